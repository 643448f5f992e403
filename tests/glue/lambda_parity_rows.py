"""CSV rows for the engine parity test: valid under each contract, with what trips a transform up.

Duplicate keys (with order ties and null order values), whitespace around free text (vertical tab, form feed,
tab, CR/LF; and the Unicode line terminators Java's `$` treats specially), NBSP (not whitespace to Java),
unicode (combining marks, emoji, CJK), extreme numbers (1e7, 1e-4, 5e-324, 2e23, NaN, Infinity, -0.0, 2**63-1),
timestamps with offsets, dates and times before the Gregorian switch (1582) and before 1900, and a few bad rows
Validate drops.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Callable

# Free text that survives Validate as is (no pattern, enum or length limit it breaks).
TEXTS = [
    "plain",
    "  padded  ",
    "\x0bvertical tab\x0b",
    "\x0c form feed \t",
    "\ttabbed\t",
    "line\nbreak inside",
    "ends in CRLF\r\n",
    "nbsp\u00a0kept\u00a0",
    "before U+2028 \u2028",
    "before NEL \u0085",
    "U+2029 then space\u2029 ",
    "combining e\u0301",
    "emoji 👍🏽 and 漢字",
    'quote " and, comma',
    "   ",  # whitespace only: trimmed to the empty string, not null
    "",  # empty: null
]
STAMPS = [
    "2024-03-10T01:30:00+05:30",
    "2024-12-31T23:59:59.999999-08:00",
    "2025-01-01T00:00:00Z",
    "2024-06-01 12:00:00",
    "2024-02-29T12:00:00.5+01:00",
    "1900-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999Z",
    "2024-07-04T10:15+0200",
    "1850-06-15T12:00:00+01:00",
    "0001-01-01T00:00:00Z",
]
DATES = ["2024-02-29", "1900-01-01", "9999-12-31", "2000-01-01", "1582-10-10", "1500-01-01", "0001-01-01"]
DOUBLES = [
    "1e7", "1e-4", "0.001", "9999999.999", "1e-3", "0.00099999", "123.456", "5e-324", "2e23", "1e23",
    "1.7976931348623157e308", "161304845894623136", "0.1", "-0.0", "0", "NaN", "inf", "1e300", "3.14159",
    "100", ".5", "9007199254740993", "4.35",
]  # fmt: skip
UNIT_DOUBLES = ["0", "-0.0", "1", "0.5", "1e-4", "0.001", "5e-324", "0.999999999999", "0.1", "1e-300"]


def _csv(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def _with_duplicates(
    rng: random.Random, rows: list[list[str]], vary: Callable[[list[str]], list[str]]
) -> list[list[str]]:
    """Appends later lines that repeat earlier keys (some identical in every value the dedupe orders by)."""
    for _ in range(len(rows) // 3):
        rows.append(vary(list(rng.choice(rows[: len(rows) // 2 + 1]))))
    rng.shuffle(rows)
    return rows


def offers(rng: random.Random, n: int) -> bytes:
    header = [
        "account",
        "offer_id",
        "catalog_id",
        "account_type_code",
        "offer_type_id",
        "created",
        "expire",
        "risk",
    ]
    rows = [
        [
            f"{rng.randrange(40):08d}",
            f"{rng.randrange(5):012d}",
            f"{rng.randrange(10**18):018d}",
            rng.choice(["AB", "CD", "ZZ"]),
            f"{rng.randrange(10**8):08d}",
            rng.choice(STAMPS),
            rng.choice(STAMPS),
            rng.choice(["low", "medium", "high"]),
        ]
        for _ in range(n)
    ]

    def vary(row: list[str]) -> list[str]:
        row[6], row[7] = (
            rng.choice(STAMPS),
            rng.choice(["low", "medium", "high"]),
        )  # same key and created: a tie
        if rng.random() < 0.5:
            row[5] = rng.choice(STAMPS)
        return row

    rows = _with_duplicates(rng, rows, vary)
    rows += [["1234567", "1", "x", "a", "b", "not a time", "", "none"]]  # bad in every field
    return _csv(header, rows)


def songs(rng: random.Random, n: int) -> bytes:
    header = ["track_id", "artists", "album_name", "track_name", "popularity", "duration_ms", "explicit",
              "danceability", "energy", "tempo", "track_genre"]  # fmt: skip
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    ids = ["".join(rng.choice(alphabet) for _ in range(22)) for _ in range(max(n // 2, 1))]
    rows = [
        [
            rng.choice(ids),
            rng.choice(TEXTS),
            rng.choice(TEXTS),
            rng.choice([t for t in TEXTS if t.strip()]),
            rng.choice(["0", "100", "57", ""]),
            rng.choice(["1", "9223372036854775807", "215000", "+42"]),
            rng.choice(["true", "False", "1", "0", ""]),
            rng.choice([*UNIT_DOUBLES, ""]),
            rng.choice(UNIT_DOUBLES),
            rng.choice([*DOUBLES, ""]),
            rng.choice([t for t in TEXTS if t.strip()]),
        ]
        for _ in range(n)
    ]

    def vary(row: list[str]) -> list[str]:
        row[9], row[1] = rng.choice(DOUBLES), rng.choice(TEXTS)
        return row

    rows = _with_duplicates(rng, rows, vary)
    rows += [["short", "", "", "t", "101", "0", "maybe", "2", "-1", "-5", "g"]]
    return _csv(header, rows)


def users(rng: random.Random, n: int) -> bytes:
    header = ["user_id", "user_name", "user_age", "user_country", "created_at"]
    rows = [
        [
            rng.choice(["1", "2", "3", "9223372036854775807", str(rng.randrange(1, 50))]),
            rng.choice([t for t in TEXTS if t.strip()]),
            rng.choice(["0", "130", "35", ""]),
            rng.choice(TEXTS),
            rng.choice([*DATES, ""]),  # null dates: the lowest in the dedupe order
        ]
        for _ in range(n)
    ]

    def vary(row: list[str]) -> list[str]:
        row[1], row[4] = rng.choice([t for t in TEXTS if t.strip()]), rng.choice([*DATES, "", row[4]])
        return row

    rows = _with_duplicates(rng, rows, vary)
    rows += [["0", "x", "131", "", "2024-02-30"]]
    return _csv(header, rows)


# A contract that exercises what the shipped eligible ones do not: rename, partition columns of string, date and
# integer type (Spark's directory escaping, nulls and empty strings), time, year and boolean fields, and a dedupe
# ordered by a datetime with nulls.
KINDS_CONTRACT = """
dataset: parity_kinds
schema:
  fields:
    - {name: id, type: integer, constraints: {required: true}}
    - {name: label, type: string}
    - {name: region, type: string}
    - {name: day, type: date}
    - {name: at, type: time}
    - {name: born, type: year}
    - {name: flag, type: boolean}
    - {name: score, type: number}
    - {name: seen, type: datetime}
  primaryKey: [id]
pipeline:
  dedupe: {order_by: seen}
  transform:
    rename: {label: title, region: area}
  partition_by: {columns: [area, day, born]}
"""
REGIONS = [
    "north",
    "a/b",
    "x=y",
    "50%",
    "q?",
    "with space",
    "naïve",
    "colon:",
    "#hash",
    "brace{[]}^",
    "   ",
    "",
]


def kinds(rng: random.Random, n: int) -> bytes:
    header = ["ID", "Label", "region", "day", "at", "born", "flag", "score", "seen"]  # names normalised
    rows = [
        [
            str(rng.randrange(1, max(n // 2, 2))),
            rng.choice(TEXTS),
            rng.choice(REGIONS),
            rng.choice([*DATES[:3], ""]),
            rng.choice(["12:00:00", "23:59:59.123456", " 07:05:00 ", ""]),
            rng.choice(["1999", "2024", ""]),
            rng.choice(["true", "false", ""]),
            rng.choice([*DOUBLES, ""]),
            rng.choice([*STAMPS, ""]),
        ]
        for _ in range(n)
    ]

    def vary(row: list[str]) -> list[str]:
        row[1], row[7] = rng.choice(TEXTS), rng.choice(DOUBLES)
        return row

    return _csv(header, _with_duplicates(rng, rows, vary))


# The same rows under a primaryKey and no `dedupe` rule: the later line of a key wins.
KEYED_CONTRACT = KINDS_CONTRACT.replace("dataset: parity_kinds", "dataset: parity_keyed").replace(
    "  dedupe: {order_by: seen}\n", ""
)

GENERATORS: dict[str, Callable[[random.Random, int], bytes]] = {
    "offers": offers,
    "songs": songs,
    "users": users,
    "parity_kinds": kinds,
    "parity_keyed": kinds,
}
