"""contracts/songs.yaml, row by row: a good row passes with its typed values, each broken rule gives its reason."""

from __future__ import annotations

from contract_cases import Case, csv_file, expected, reasons_of_broken_rows, staged_good_row
from validate_world import ValidateWorld

from sluice_lib.contracts import ContractStore

HEADER = [
    "track_id", "artists", "album_name", "track_name", "popularity", "duration_ms", "explicit",
    "danceability", "energy", "tempo", "track_genre",
]  # fmt: skip
GOOD = {
    "track_id": "5SuOikwiRyPMVoIQDJUgSV",
    "artists": "Gen Hoshino",
    "album_name": "Comedy",
    "track_name": "Comedy",
    "popularity": "73",
    "duration_ms": "230666",
    "explicit": "False",
    "danceability": "0.676",
    "energy": "0.461",
    "tempo": "87.917",
    "track_genre": "acoustic",
}
CASES: list[Case] = [
    ({"track_id": ""}, "track_id: a value is required"),
    (
        {"track_id": "5SuOikwiRyPMVoIQDJUgS"},
        "track_id: '5SuOikwiRyPMVoIQDJUgS' does not match the pattern ^[0-9A-Za-z]{22}$",
    ),
    ({"track_name": ""}, "track_name: a value is required"),
    ({"popularity": "-1"}, "popularity: '-1' is less than the minimum 0"),
    ({"popularity": "101"}, "popularity: '101' is greater than the maximum 100"),
    ({"duration_ms": ""}, "duration_ms: a value is required"),
    ({"duration_ms": "0"}, "duration_ms: '0' is less than the minimum 1"),
    ({"duration_ms": "3:50"}, "duration_ms: not an integer: '3:50'"),
    ({"explicit": "maybe"}, "explicit: not a boolean: 'maybe'"),
    ({"danceability": "1.5"}, "danceability: '1.5' is greater than the maximum 1"),
    ({"energy": "-0.1"}, "energy: '-0.1' is less than the minimum 0"),
    ({"tempo": "-5"}, "tempo: '-5' is less than the minimum 0"),
    ({"track_genre": ""}, "track_genre: a value is required"),
]
TYPED = {
    "track_id": "5SuOikwiRyPMVoIQDJUgSV",
    "artists": "Gen Hoshino",
    "album_name": "Comedy",
    "track_name": "Comedy",
    "popularity": 73,
    "duration_ms": 230666,
    "explicit": False,
    "danceability": 0.676,
    "energy": 0.461,
    "tempo": 87.917,
    "track_genre": "acoustic",
}


def test_songs_good_row_passes_with_its_typed_values(world: ValidateWorld) -> None:
    assert staged_good_row(world, "songs", HEADER, GOOD) == TYPED


def test_songs_kaggle_layout_with_index_and_other_audio_features_keeps_the_contract_columns(
    world: ValidateWorld,
) -> None:
    header = ["", *HEADER[:7], "danceability", "energy", "key", "loudness", "mode", "tempo", "track_genre"]
    row = {"": "0", **GOOD, "key": "1", "loudness": "-6.746", "mode": "0"}

    out = world.validate(world.put("dataset.csv", csv_file(header, [row]), "songs"))

    assert out.extra_columns == ["(unnamed column 1)", "key", "loudness", "mode"]
    assert world.staging_rows(out) == [TYPED]


def test_songs_each_broken_rule_rejects_its_row_with_its_reason(
    world: ValidateWorld, lenient: ContractStore
) -> None:
    assert reasons_of_broken_rows(world, lenient, "songs", HEADER, GOOD, CASES) == expected(CASES)
