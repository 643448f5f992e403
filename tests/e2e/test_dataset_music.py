"""Seed 2, music streaming, through the CLI as a user runs it: `sluice run users=... songs=... streams=... --json`.

Users and songs are reference datasets; each listen is joined with both from their curated tables, listens of
tracks the catalogue lacks are dropped (the rule duration_ms > 0 needs a track), and the gold table
daily_genre_kpis is partitioned by listen_date and served from DynamoDB.
"""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

pytestmark = [pytest.mark.emulator, pytest.mark.spark]

ROOT = Path(__file__).resolve().parents[2]
A, B, C, D = (
    "4iV5W9uYEdYUVa79Axb7Rh",
    "1301WleyT98MSxVHPZCA6M",
    "6habFhsOp2NvshLv26DqMb",
    "2takcwOaAZWiXQijPHIx7B",
)
UNKNOWN = "0000000000000000000000"
USERS = """user_id,user_name,user_age,user_country,created_at
1,Ada,31,Ghana,2024-01-05
2,Ben,41,Japan,2024-02-10
3,Chloé,25,France,2024-03-15
"""
SONGS = f"""track_id,artists,album_name,track_name,popularity,duration_ms,explicit,danceability,energy,tempo,track_genre
{A},X,One,Song A,80,180000,False,0.5,0.6,120.0,pop
{B},Y,Two,Song B,70,120000,False,0.4,0.7,98.5,pop
{C},Z,Three,Song C,60,300000,True,0.3,0.9,140.0,rock
{D},W,Four,Song D,50,60000,False,0.2,0.1,80.0,jazz
"""
STREAMS = f"""user_id,track_id,listen_time
1,{A},2025-03-01 10:00:00
1,{A},2025-03-01 11:00:00
2,{A},2025-03-01 12:00:00
2,{B},2025-03-01 13:00:00
3,{B},2025-03-01 14:00:00
3,{C},2025-03-01 15:00:00
1,{UNKNOWN},2025-03-01 16:00:00
3,{D},2025-03-02 09:00:00
2,{D},2025-03-02 10:00:00
1,{C},2025-03-02 11:00:00
"""
# Worked out by hand. 1 March: pop = A x3 (users 1, 1, 2) + B x2 (users 2, 3): 5 listens by 3 users,
# 3 x 180000 + 2 x 120000 = 780000 ms, 260000 per user; rock = C once by user 3. The unknown track is dropped.
# 2 March: jazz = D twice (users 3, 2): 2 x 60000 = 120000 ms, 60000 per user; rock = C once by user 1.
KPIS = [
    {"listen_date": "2025-03-01", "track_genre": "pop", "listen_count": 5, "unique_listeners": 3,
     "total_listening_ms": 780_000, "avg_listening_ms_per_user": 260_000.0, "top_tracks": ["Song A", "Song B"],
     "genre_rank": 1},
    {"listen_date": "2025-03-01", "track_genre": "rock", "listen_count": 1, "unique_listeners": 1,
     "total_listening_ms": 300_000, "avg_listening_ms_per_user": 300_000.0, "top_tracks": ["Song C"],
     "genre_rank": 2},
    {"listen_date": "2025-03-02", "track_genre": "jazz", "listen_count": 2, "unique_listeners": 2,
     "total_listening_ms": 120_000, "avg_listening_ms_per_user": 60_000.0, "top_tracks": ["Song D"],
     "genre_rank": 1},
    {"listen_date": "2025-03-02", "track_genre": "rock", "listen_count": 1, "unique_listeners": 1,
     "total_listening_ms": 300_000, "avg_listening_ms_per_user": 300_000.0, "top_tracks": ["Song C"],
     "genre_rank": 2},
]  # fmt: skip


@pytest.fixture(scope="module")
def music(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("music")
    for name, text in (("u.csv", USERS), ("s.csv", SONGS), ("st.csv", STREAMS)):
        (tmp / name).write_text(text, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "sluice.cli", "run", f"users={tmp / 'u.csv'}", f"songs={tmp / 's.csv'}",
         f"streams={tmp / 'st.csv'}", "--json", "--out", str(tmp / "out")],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    summary: dict[str, Any] = json.loads(result.stdout)  # exactly one JSON document
    return summary


def curated(summary: dict[str, Any], table: str) -> list[dict[str, Any]]:
    part = ds.partitioning(pa.schema([("listen_date", pa.string())]), flavor="hive")
    folder = Path(summary["outputs"]["curated"]) / table
    return list(ds.dataset(folder, format="parquet", partitioning=part).to_table().to_pylist())


def test_dataset_music_cli_runs_users_songs_then_streams_all_succeeding(music: dict[str, Any]) -> None:
    assert music["status"] == "SUCCEEDED"
    assert [(e["dataset"], e["status"]) for e in music["executions"]] == [
        ("users", "SUCCEEDED"),
        ("songs", "SUCCEEDED"),
        ("streams", "SUCCEEDED"),
    ]
    streams = music["executions"][2]
    assert streams["rows"] == {
        "in": 10,
        "blank": 0,
        "valid": 10,
        "rejected": 0,
        "curated": 9,
        "deduped": 0,
        "loaded": 9,
    }


def test_dataset_music_streams_are_joined_with_their_user_and_song(music: dict[str, Any]) -> None:
    rows = sorted(curated(music, "streams"), key=lambda r: r["listen_time"])

    got = [(r["listen_date"], r["user_name"], r["user_country"], r["track_name"], r["track_genre"], r["duration_ms"])
           for r in rows]  # fmt: skip
    assert got == [
        ("2025-03-01", "Ada", "Ghana", "Song A", "pop", 180_000),
        ("2025-03-01", "Ada", "Ghana", "Song A", "pop", 180_000),
        ("2025-03-01", "Ben", "Japan", "Song A", "pop", 180_000),
        ("2025-03-01", "Ben", "Japan", "Song B", "pop", 120_000),
        ("2025-03-01", "Chloé", "France", "Song B", "pop", 120_000),
        ("2025-03-01", "Chloé", "France", "Song C", "rock", 300_000),
        ("2025-03-02", "Chloé", "France", "Song D", "jazz", 60_000),
        ("2025-03-02", "Ben", "Japan", "Song D", "jazz", 60_000),
        ("2025-03-02", "Ada", "Ghana", "Song C", "rock", 300_000),
    ]


def test_dataset_music_daily_genre_kpis_are_exported_partitioned_by_listen_date(
    music: dict[str, Any],
) -> None:
    rows = sorted(curated(music, "daily_genre_kpis"), key=lambda r: (r["listen_date"], r["genre_rank"]))

    assert [{k: r[k] for k in KPIS[0]} for r in rows] == KPIS
    folder = Path(music["outputs"]["curated"]) / "daily_genre_kpis"
    assert sorted(p.name for p in folder.iterdir()) == ["listen_date=2025-03-01", "listen_date=2025-03-02"]


def test_dataset_music_daily_genre_kpis_are_served_by_day_and_genre(music: dict[str, Any]) -> None:
    items = [json.loads(line) for line in Path(music["outputs"]["serving"]).read_text().splitlines()]
    kpis = {(i["pk"], i["sk"]): i for i in items if i["pk"].startswith("daily_genre_kpis#")}

    assert sorted(kpis) == [
        ("daily_genre_kpis#2025-03-01", "pop"),
        ("daily_genre_kpis#2025-03-01", "rock"),
        ("daily_genre_kpis#2025-03-02", "jazz"),
        ("daily_genre_kpis#2025-03-02", "rock"),
    ]
    pop = kpis[("daily_genre_kpis#2025-03-01", "pop")]
    assert Decimal(pop["listen_count"]) == 5
    assert Decimal(pop["unique_listeners"]) == 3
    assert Decimal(pop["avg_listening_ms_per_user"]) == 260_000
    assert pop["top_tracks"] == ["Song A", "Song B"]
