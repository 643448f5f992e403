"""Validate, row level: every rule of the contract, every reason of a row, ragged rows and line numbers."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from validate_world import OFFERS_HEADER, ValidateWorld, offers_file, offers_row

from sluice_lib.contracts import ContractStore
from sluice_lib.validate import reader

READINGS = """
dataset: readings
schema:
  fields:
    - {name: id, type: integer, constraints: {required: true, minimum: 1}}
    - {name: amount, type: number, constraints: {minimum: 0, maximum: 100}}
    - {name: active, type: boolean, trueValues: ['yes', 'Y'], falseValues: ['no', 'N']}
    - {name: day, type: date}
    - {name: at, type: datetime}
    - {name: clock, type: time}
    - {name: season, type: year, constraints: {maximum: 2030}}
    - {name: code, type: string, constraints: {minLength: 2, maxLength: 4, pattern: '[A-Z]+'}}
    - {name: level, type: string, constraints: {enum: [low, high]}}
    - {name: signed, type: date, format: '%d/%m/%Y'}
pipeline: {max_reject_ratio: 1.0}
"""
READINGS_HEADER = "id,amount,active,day,at,clock,season,code,level,signed"
GOOD = [
    "7",
    "12.5",
    "yes",
    "2024-02-29",
    "2024-07-30T20:16:16+05:30",
    "08:30:00",
    "2024",
    "AB",
    "low",
    "29/02/2024",
]
GOOD_TYPED = {
    "id": 7,
    "amount": 12.5,
    "active": True,
    "day": date(2024, 2, 29),
    "at": datetime(2024, 7, 30, 14, 46, 16, tzinfo=UTC),
    "clock": "08:30:00",
    "season": 2024,
    "code": "AB",
    "level": "low",
    "signed": date(2024, 2, 29),
}


@pytest.fixture
def contracts(tmp_path: Path) -> ContractStore:
    (tmp_path / "readings.yaml").write_text(READINGS, encoding="utf-8")
    return ContractStore(tmp_path)


def readings(*rows: list[str]) -> bytes:
    return "\n".join([READINGS_HEADER, *(",".join(r) for r in rows), ""]).encode()


def changed(**values: str) -> list[str]:
    names = READINGS_HEADER.split(",")
    return [values.get(name, good) for name, good in zip(names, GOOD, strict=True)]


def test_validate_good_row_of_every_type_is_staged_with_its_staging_type(
    world: ValidateWorld, contracts: ContractStore
) -> None:
    other = changed(id="+8", amount="1e2", active="N", at="2024-07-30 20:16:16.1234567", season="1999")
    largest = changed(id="9223372036854775807", amount="", active="", day="", at="", signed="")
    source = world.put("r.csv", readings(GOOD, other, largest), "readings")

    out = world.validate(source, contracts)

    assert world.staging_rows(out) == [
        GOOD_TYPED,
        {
            **GOOD_TYPED,
            "id": 8,
            "amount": 100.0,
            "active": False,
            "at": datetime(2024, 7, 30, 20, 16, 16, 123456, tzinfo=UTC),
            "season": 1999,
        },
        {
            **GOOD_TYPED,
            "id": 2**63 - 1,
            "amount": None,
            "active": None,
            "day": None,
            "at": None,
            "signed": None,
        },
    ]


# One rule broken per row: the values changed from GOOD, and the reason expected.
ONE_RULE_BROKEN: list[tuple[dict[str, str], str]] = [
    ({"id": ""}, "id: a value is required"),
    ({"id": "seven"}, "id: not an integer: 'seven'"),
    ({"id": "1.5"}, "id: not an integer: '1.5'"),
    ({"id": "0"}, "id: '0' is less than the minimum 1"),
    ({"id": "99999999999999999999"}, "id: not an integer: '99999999999999999999'"),
    ({"amount": '"12,5"'}, "amount: not a number: '12,5'"),
    ({"amount": "-1"}, "amount: '-1' is less than the minimum 0"),
    ({"amount": "100.5"}, "amount: '100.5' is greater than the maximum 100"),
    ({"active": "true"}, "active: not a boolean: 'true'"),
    ({"day": "2023-02-29"}, "day: not an ISO date (YYYY-MM-DD): '2023-02-29'"),
    ({"day": "29/02/2024"}, "day: not an ISO date (YYYY-MM-DD): '29/02/2024'"),
    ({"at": "yesterday"}, "at: not an ISO-8601 datetime: 'yesterday'"),
    ({"at": "2024-02-30T10:00:00Z"}, "at: not an ISO-8601 datetime: '2024-02-30T10:00:00Z'"),
    ({"at": "2024-07-30"}, "at: not an ISO-8601 datetime: '2024-07-30'"),
    ({"clock": "25:00:00"}, "clock: not an ISO time (HH:MM:SS): '25:00:00'"),
    ({"season": "24"}, "season: not a year (YYYY): '24'"),
    ({"season": "2031"}, "season: '2031' is greater than the maximum 2030"),
    ({"code": "A"}, "code: 'A' is shorter than 2 characters"),
    ({"code": "ABCDE"}, "code: 'ABCDE' is longer than 4 characters"),
    ({"code": "ab"}, "code: 'ab' does not match the pattern [A-Z]+"),
    ({"level": "mid"}, "level: 'mid' is not one of low, high"),
    ({"level": " low"}, "level: ' low' is not one of low, high"),
    ({"signed": "2024-02-29"}, "signed: not a date in format '%d/%m/%Y': '2024-02-29'"),
    ({"signed": "30/02/2024"}, "signed: not a date in format '%d/%m/%Y': '30/02/2024'"),
]


def test_validate_row_breaking_one_rule_is_rejected_with_its_reason(
    world: ValidateWorld, contracts: ContractStore
) -> None:
    rows = [changed(**values) for values, _ in ONE_RULE_BROKEN]
    source = world.put("r.csv", readings(GOOD, *rows), "readings")

    out = world.validate(source, contracts)

    found = [(r["line"], r["reasons"]) for r in world.quarantine(out)]
    assert found == [(str(line), reason) for line, (_, reason) in enumerate(ONE_RULE_BROKEN, start=3)]
    assert world.staging_rows(out) == [GOOD_TYPED]


def test_validate_row_breaking_several_rules_reports_every_reason(
    world: ValidateWorld, contracts: ContractStore
) -> None:
    bad = changed(id="x", amount="200", at="soon", code="abcdef", level="none")

    out = world.validate(world.put("r.csv", readings(bad), "readings"), contracts)

    assert world.quarantine(out) == [
        {
            "line": "2",
            "reasons": "; ".join(
                [
                    "id: not an integer: 'x'",
                    "amount: '200' is greater than the maximum 100",
                    "at: not an ISO-8601 datetime: 'soon'",
                    "code: 'abcdef' does not match the pattern [A-Z]+",
                    "code: 'abcdef' is longer than 4 characters",
                    "level: 'none' is not one of low, high",
                ]
            ),
            "raw": ",".join(bad),
        }
    ]


def test_validate_values_with_surrounding_spaces_are_trimmed_for_typed_fields_only(
    world: ValidateWorld, contracts: ContractStore
) -> None:
    row = changed(id=" 7 ", at=" 2024-07-30T20:16:16+05:30", code=" AB")

    out = world.validate(world.put("r.csv", readings(row), "readings"), contracts)

    assert [r["reasons"] for r in world.quarantine(out)] == ["code: ' AB' does not match the pattern [A-Z]+"]


def test_validate_ragged_rows_are_rejected_with_their_raw_text(
    world: ValidateWorld, lenient: ContractStore
) -> None:
    short = "12345678,123456789012,123456789012345678,AB,87654321,2025-01-02T03:04:05Z,low"
    long = offers_row() + ',"one, more"'
    data = offers_file(offers_row(), short, offers_row(), long)

    out = world.validate(world.put("ragged.csv", data), lenient)

    assert world.quarantine(out) == [
        {"line": "3", "reasons": "row has 7 values where the header has 8 columns", "raw": short},
        {"line": "5", "reasons": "row has 9 values where the header has 8 columns", "raw": long},
    ]
    assert out.counts.model_dump() == {
        "rows_in": 4,
        "rows_valid": 2,
        "rows_rejected": 2,
        "bytes_in": len(data),
    }


def test_validate_line_numbers_count_blank_lines_and_newlines_inside_quotes(
    world: ValidateWorld, lenient: ContractStore
) -> None:
    lines = [
        OFFERS_HEADER,  # 1
        offers_row(),  # 2
        "",  # 3 blank: not a row
        offers_row(risk="bad"),  # 4
        offers_row(account='"1234\n5678"'),  # 5-6: a newline inside quotes
        "1,2",  # 7 ragged
        ",,,,,,,",  # 8 all values empty: not a row
        offers_row(risk='"two\r\nlines"'),  # 9-10
        offers_row(),  # 11
        offers_row(offer_id="1"),  # 12
    ]
    data = "\n".join([*lines, ""]).encode()

    out = world.validate(world.put("lines.csv", data), lenient)

    assert [r["line"] for r in world.quarantine(out)] == ["4", "5", "7", "9", "12"]
    assert out.counts.rows_in == 7


def test_validate_line_numbers_stay_exact_across_record_batches(
    world: ValidateWorld, lenient: ContractStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reader, "BLOCK_SIZE", 1024)  # ~7 rows a batch
    lines = [OFFERS_HEADER]  # physical lines: line n is lines[n - 1]
    expected: list[str] = []
    for i in range(300):
        kind = i % 11
        if kind in (3, 5, 7):
            expected.append(str(len(lines) + 1))
        if kind == 3:
            lines.append(offers_row(risk="bad"))
        elif kind == 5:
            lines.append("1,2,3")
        elif kind == 7:
            lines.extend(offers_row(account='"12\n34\n"').split("\n"))  # one record on three lines
        elif kind == 9:
            lines.append("")
        else:
            lines.append(offers_row())
    text = "\n".join(lines) + "\n"

    out = world.validate(world.put("long.csv", text.encode()), lenient)

    assert [r["line"] for r in world.quarantine(out)] == expected


def test_validate_duplicate_primary_keys_are_not_rejected(world: ValidateWorld) -> None:
    out = world.validate(world.put("dupes.csv", offers_file(offers_row(), offers_row())))

    assert out.counts.rows_valid == 2
    assert out.counts.rows_rejected == 0


def test_validate_bad_row_raw_is_rejoined_as_a_csv_record(world: ValidateWorld) -> None:
    bad = offers_row(account='"12,""34"""', risk="bad")

    out = world.validate(world.put("raw.csv", offers_file(*[offers_row()] * 30, bad)))

    assert world.quarantine(out)[0]["raw"] == bad


def test_validate_old_mac_cr_line_ends_are_lines(world: ValidateWorld, lenient: ContractStore) -> None:
    data = offers_file(offers_row(), offers_row(risk="bad"), offers_row(), newline="\r")

    out = world.validate(world.put("mac.csv", data), lenient)

    assert [r["line"] for r in world.quarantine(out)] == ["3"]
    assert out.counts.rows_valid == 2
