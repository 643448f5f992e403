"""Test-data generators: realistic CSV files per dataset, with a chosen share of deliberately bad rows."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import numpy as np

CHUNK_ROWS = 10_000
OFFERS_HEADER = [
    "account",
    "offer_id",
    "catalog_id",
    "account_type_code",
    "offer_type_id",
    "created",
    "expire",
    "risk",
]
RISKS = np.array(["low", "medium", "high"])
# Kinds of deliberately bad rows; each one breaks the offers contract in a way a person would recognise.
BAD_KINDS = (
    "missing_account",
    "short_offer_id",
    "bad_created",
    "risk_not_in_enum",
    "ragged_row",
    "lowercase_account_type",
    "missing_expire",
)
_DAY_US = 86_400 * 1_000_000


@contextmanager
def _open_text(out: Path) -> Iterator[TextIO]:
    """Plain or gzip text output by suffix; gzip without name and mtime so a seed gives the same bytes."""
    if out.name.endswith(".gz"):
        with (
            open(out, "wb") as raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz,
            io.TextIOWrapper(gz, encoding="utf-8", newline="") as text,
        ):
            yield text
    else:
        with open(out, "w", encoding="utf-8", newline="") as text:
            yield text


def _digits(values: np.ndarray, width: int) -> list[str]:
    return [f"{v:0{width}d}" for v in values.tolist()]


def _break_row(row: list[str], kind: str) -> list[str]:
    """Turns a good offers row into a bad one of the given kind."""
    bad = list(row)
    if kind == "missing_account":
        bad[0] = ""
    elif kind == "short_offer_id":
        bad[1] = bad[1][1:]
    elif kind == "bad_created":
        bad[5] = "yesterday"
    elif kind == "risk_not_in_enum":
        bad[7] = "extreme"
    elif kind == "ragged_row":
        bad = bad[:-1]
    elif kind == "lowercase_account_type":
        bad[3] = bad[3].lower()
    elif kind == "missing_expire":
        bad[6] = ""
    return bad


def generate_offers(
    out: Path,
    rows: int,
    bad_rate: float,
    seed: int,
    progress: Callable[[int], None] | None = None,
    *,
    accounts: int = 20,
    now: datetime | None = None,
) -> int:
    """Writes `rows` offers (plus a header) to `out` (`.gz` -> gzip) and returns how many rows are bad.

    The same seed, arguments and `now` give the same file. `now` defaults to the start of the current
    UTC day, so `created` lies within the 365 days before it and runs on one day agree byte for byte.
    Each row is bad with probability `bad_rate`, of one of BAD_KINDS chosen at random.
    """
    if rows < 0 or not 0 <= bad_rate <= 1 or accounts < 1:
        raise ValueError("rows must be >= 0, bad_rate within [0, 1] and accounts >= 1")
    rng = np.random.default_rng(seed)
    anchor = now or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    anchor_us = np.datetime64(anchor.astimezone(UTC).replace(tzinfo=None), "us")
    account_pool = rng.choice(100_000_000, size=accounts, replace=accounts > 100_000_000)
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    type_codes = np.char.add(rng.choice(letters, 12), rng.choice(letters, 12))
    offer_types = rng.integers(0, 100_000_000, size=50)
    bad_total = 0
    written = 0
    with _open_text(out) as text:
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(OFFERS_HEADER)
        while written < rows:
            n = min(CHUNK_ROWS, rows - written)
            created = anchor_us - rng.integers(1, 365 * _DAY_US, size=n).astype("timedelta64[us]")
            expire = created + rng.integers(7 * _DAY_US, 365 * _DAY_US + 1, size=n).astype("timedelta64[us]")
            columns = [
                _digits(rng.choice(account_pool, n), 8),
                _digits(rng.integers(0, 10**12, size=n), 12),
                _digits(rng.integers(0, 10**18, size=n), 18),
                rng.choice(type_codes, n).tolist(),
                _digits(rng.choice(offer_types, n), 8),
                [f"{s}+00:00" for s in np.datetime_as_string(created, unit="us").tolist()],
                [f"{s}+00:00" for s in np.datetime_as_string(expire, unit="us").tolist()],
                rng.choice(RISKS, n).tolist(),
            ]
            chunk: list[list[str]] = [list(r) for r in zip(*columns, strict=True)]
            bad_at = np.flatnonzero(rng.random(n) < bad_rate)
            kinds = rng.integers(0, len(BAD_KINDS), size=len(bad_at))
            for i, kind in zip(bad_at.tolist(), kinds.tolist(), strict=True):
                chunk[i] = _break_row(chunk[i], BAD_KINDS[kind])
            writer.writerows(chunk)
            bad_total += len(bad_at)
            written += n
            if progress is not None:
                progress(written)
    return bad_total


# --- the other seed datasets: one chunk function each, the shared loop in _generate -------------------

Chunk = Callable[[np.random.Generator, int, int], list[list[str]]]
Breakers = dict[str, Callable[[list[str]], list[str]]]

FIRST_NAMES = np.array(
    [
        "Ada",
        "Ben",
        "Chloé",
        "Dev",
        "Emma",
        "Femi",
        "Grace",
        "Hiro",
        "Ines",
        "Jon",
        "Kofi",
        "Lena",
        "Mei",
        "Noor",
    ]
)
LAST_NAMES = np.array(
    [
        "Okafor",
        "Smith",
        "García",
        "Kowalski",
        "Nguyen",
        "Müller",
        "Rossi",
        "Sato",
        "Haddad",
        "Brown",
        "Ivanova",
    ]
)
DOMAINS = np.array(["example.com", "mail.example.org", "example.net"])
COUNTRIES = np.array(["Nigeria", "Ghana", "Germany", "Japan", "Brazil", "India", "United States", "France"])
GENRES = np.array(
    ["pop", "rock", "afrobeat", "jazz", "hip-hop", "classical", "edm", "k-pop", "reggae", "country", "blues"]
)
WORDS = np.array(
    ["blue", "night", "river", "fire", "golden", "echo", "dream", "city", "rain", "heart", "wild", "sun"]
)
PRODUCTS = {
    "Laptop": 999.99,
    "Mouse": 19.5,
    "Keyboard": 49.0,
    "Monitor": 189.9,
    "USB cable": 4.25,
    "Desk": 240.0,
}
TICKET_SUBJECTS = np.array(
    ["Cannot log in", "Refund request", "Order arrived damaged", "Invoice is wrong", "App crashes on start"]
)
TICKET_LINES = np.array(
    [
        "Hi, I tried twice and it still fails.",
        'The page says "something went wrong", then nothing.',
        "Order #4471, paid by card; nothing arrived yet.",
        "Please call me back, I'm available after 5pm.",
        "Attached is the screenshot (see below).",
    ]
)
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def track_id(index: int) -> str:
    """The 22-character base-62 Spotify-style id of the songs generator's row `index` (0-based), for any seed.

    Streams draw from the same ids, so generated streams find their songs.
    """
    number = int.from_bytes(hashlib.sha256(f"track-{index}".encode()).digest()[:17], "big")
    chars = []
    for _ in range(22):
        number, digit = divmod(number, 62)
        chars.append(_BASE62[digit])
    return "".join(chars)


def _days_before(anchor: datetime, rng: np.random.Generator, n: int, days: int) -> list[str]:
    start = np.datetime64(anchor.date(), "D")
    return np.datetime_as_string(start - rng.integers(1, days + 1, size=n).astype("timedelta64[D]")).tolist()


def _instants_before(anchor: datetime, rng: np.random.Generator, n: int, days: int) -> np.ndarray:
    anchor_us = np.datetime64(anchor.astimezone(UTC).replace(tzinfo=None), "us")
    return anchor_us - rng.integers(1, days * _DAY_US, size=n).astype("timedelta64[us]")


def _anchor(now: datetime | None) -> datetime:
    return now or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _names(rng: np.random.Generator, n: int) -> tuple[list[str], list[str]]:
    return rng.choice(FIRST_NAMES, n).tolist(), rng.choice(LAST_NAMES, n).tolist()


def _email(first: str, last: str, number: int, domain: str) -> str:
    plain = unicodedata.normalize("NFKD", f"{first}.{last}".lower())
    local = plain.encode("ascii", "ignore").decode()
    return f"{local}{number}@{domain}"


def _set(index: int, value: str) -> Callable[[list[str]], list[str]]:
    def change(row: list[str]) -> list[str]:
        bad = list(row)
        bad[index] = value
        return bad

    return change


def _ragged(row: list[str]) -> list[str]:
    return row[:-1]


def _generate(
    out: Path,
    rows: int,
    bad_rate: float,
    seed: int,
    progress: Callable[[int], None] | None,
    header: list[str],
    chunk: Chunk,
    breakers: Breakers,
) -> int:
    """Writes a header and `rows` rows made `CHUNK_ROWS` at a time; each row is bad with probability
    `bad_rate`, broken by one of `breakers` chosen at random. Returns the number of bad rows."""
    if rows < 0 or not 0 <= bad_rate <= 1:
        raise ValueError("rows must be >= 0 and bad_rate within [0, 1]")
    rng = np.random.default_rng(seed)
    kinds = list(breakers.values())
    bad_total = written = 0
    with _open_text(out) as text:
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(header)
        while written < rows:
            n = min(CHUNK_ROWS, rows - written)
            data = chunk(rng, written, n)
            bad_at = np.flatnonzero(rng.random(n) < bad_rate)
            for i, kind in zip(
                bad_at.tolist(), rng.integers(0, len(kinds), size=len(bad_at)).tolist(), strict=True
            ):
                data[i] = kinds[kind](data[i])
            writer.writerows(data)
            bad_total += len(bad_at)
            written += n
            if progress is not None:
                progress(written)
    return bad_total


SIGNUPS_HEADER = ["id", "name", "email", "signup_date", "status"]
SIGNUPS_BAD: Breakers = {
    "missing_id": _set(0, ""),
    "bad_email": _set(2, "not-an-email"),
    "impossible_signup_date": _set(3, "2024-02-30"),
    "status_not_in_enum": _set(4, "pending"),
    "ragged_row": _ragged,
}


def generate_signups(
    out: Path,
    rows: int,
    bad_rate: float,
    seed: int,
    progress: Callable[[int], None] | None = None,
    *,
    now: datetime | None = None,
) -> int:
    """Signups with ids 1..rows, signup dates within the 365 days before `now`, about 80% active."""
    anchor = _anchor(now)

    def chunk(rng: np.random.Generator, start: int, n: int) -> list[list[str]]:
        first, last = _names(rng, n)
        domains = rng.choice(DOMAINS, n).tolist()
        days = _days_before(anchor, rng, n, 365)
        status = np.where(rng.random(n) < 0.8, "active", "inactive").tolist()
        return [
            [str(start + i + 1), f"{first[i]} {last[i]}", _email(first[i], last[i], start + i + 1, domains[i]),
             days[i], status[i]]
            for i in range(n)
        ]  # fmt: skip

    return _generate(out, rows, bad_rate, seed, progress, SIGNUPS_HEADER, chunk, SIGNUPS_BAD)


TICKETS_HEADER = ["ticket_id", "created_at", "customer_email", "priority", "status", "subject", "body"]
TICKETS_BAD: Breakers = {
    "bad_ticket_id": _set(0, "T-1"),
    "bad_created_at": _set(1, "last tuesday"),
    "priority_not_in_enum": _set(3, "critical"),
    "missing_subject": _set(5, ""),
    "ragged_row": _ragged,
}


def generate_tickets(
    out: Path,
    rows: int,
    bad_rate: float,
    seed: int,
    progress: Callable[[int], None] | None = None,
    *,
    now: datetime | None = None,
) -> int:
    """Tickets TKT-000001.. created within the 365 days before `now`; bodies hold commas, quotes and newlines."""
    anchor = _anchor(now)
    priorities = np.array(["low", "medium", "high", "urgent"])
    statuses = np.array(["open", "pending", "resolved", "closed"])

    def chunk(rng: np.random.Generator, start: int, n: int) -> list[list[str]]:
        first, last = _names(rng, n)
        domains = rng.choice(DOMAINS, n).tolist()
        created = np.datetime_as_string(_instants_before(anchor, rng, n, 365), unit="s").tolist()
        priority = rng.choice(priorities, n, p=[0.4, 0.35, 0.2, 0.05]).tolist()
        status = rng.choice(statuses, n).tolist()
        subject = rng.choice(TICKET_SUBJECTS, n).tolist()
        line_counts = rng.integers(1, 4, size=n).tolist()
        lines = rng.choice(TICKET_LINES, (n, 3)).tolist()
        return [
            [f"TKT-{start + i + 1:06d}", f"{created[i]}Z", _email(first[i], last[i], start + i + 1, domains[i]),
             priority[i], status[i], subject[i], "\n".join(lines[i][: line_counts[i]])]
            for i in range(n)
        ]  # fmt: skip

    return _generate(out, rows, bad_rate, seed, progress, TICKETS_HEADER, chunk, TICKETS_BAD)


ORDERS_HEADER = ["order_id", "customer_name", "product", "quantity", "unit_price", "order_date"]
ORDERS_BAD: Breakers = {
    "zero_quantity": _set(3, "0"),
    "negative_price": _set(4, "-1.50"),
    "missing_product": _set(2, ""),
    "day_first_order_date": _set(5, "15/01/2024"),
    "ragged_row": _ragged,
}


def generate_orders(
    out: Path,
    rows: int,
    bad_rate: float,
    seed: int,
    progress: Callable[[int], None] | None = None,
    *,
    now: datetime | None = None,
) -> int:
    """Order lines ORD-00000001.. within the 365 days before `now`; about 5% have no customer name and
    about 1% repeat the previous line (duplicates for the silver layer to drop)."""
    anchor = _anchor(now)
    names, prices = np.array(list(PRODUCTS)), list(PRODUCTS.values())

    def chunk(rng: np.random.Generator, start: int, n: int) -> list[list[str]]:
        first, last = _names(rng, n)
        product = rng.integers(0, len(names), size=n).tolist()
        quantity = rng.integers(1, 11, size=n).tolist()
        days = _days_before(anchor, rng, n, 365)
        anonymous = (rng.random(n) < 0.05).tolist()
        repeat = (rng.random(n) < 0.01).tolist()
        data = [
            [f"ORD-{start + i + 1:08d}", "" if anonymous[i] else f"{first[i]} {last[i]}", str(names[product[i]]),
             str(quantity[i]), f"{prices[product[i]]:.2f}", days[i]]
            for i in range(n)
        ]  # fmt: skip
        for i in range(1, n):
            if repeat[i]:
                data[i] = list(data[i - 1])
        return data

    return _generate(out, rows, bad_rate, seed, progress, ORDERS_HEADER, chunk, ORDERS_BAD)


USERS_HEADER = ["user_id", "user_name", "user_age", "user_country", "created_at"]
USERS_BAD: Breakers = {
    "missing_user_id": _set(0, ""),
    "age_out_of_range": _set(2, "150"),
    "bad_created_at": _set(4, "yesterday"),
    "ragged_row": _ragged,
}


def generate_users(
    out: Path,
    rows: int,
    bad_rate: float,
    seed: int,
    progress: Callable[[int], None] | None = None,
    *,
    now: datetime | None = None,
) -> int:
    """Users with ids 1..rows (generated streams listen as users 1..100), created within 3 years before `now`."""
    anchor = _anchor(now)

    def chunk(rng: np.random.Generator, start: int, n: int) -> list[list[str]]:
        first, last = _names(rng, n)
        ages = rng.integers(13, 81, size=n).tolist()
        country = rng.choice(COUNTRIES, n).tolist()
        days = _days_before(anchor, rng, n, 3 * 365)
        return [
            [str(start + i + 1), f"{first[i]} {last[i]}", str(ages[i]), country[i], days[i]] for i in range(n)
        ]

    return _generate(out, rows, bad_rate, seed, progress, USERS_HEADER, chunk, USERS_BAD)


SONGS_HEADER = [
    "track_id", "artists", "album_name", "track_name", "popularity", "duration_ms", "explicit",
    "danceability", "energy", "tempo", "track_genre",
]  # fmt: skip
SONGS_BAD: Breakers = {
    "zero_duration": _set(5, "0"),
    "short_track_id": _set(0, "4iV5W9uYEdYUVa79Axb7R"),
    "missing_track_name": _set(3, ""),
    "popularity_out_of_range": _set(4, "101"),
    "ragged_row": _ragged,
}


def generate_songs(
    out: Path,
    rows: int,
    bad_rate: float,
    seed: int,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Tracks with ids track_id(0..rows-1) (generated streams play tracks 0..99), in the Spotify layout."""

    def chunk(rng: np.random.Generator, start: int, n: int) -> list[list[str]]:
        words = rng.choice(WORDS, (n, 4)).tolist()
        first, last = _names(rng, n)
        popularity = rng.integers(0, 101, size=n).tolist()
        duration = rng.integers(90_000, 420_001, size=n).tolist()
        explicit = np.where(rng.random(n) < 0.2, "True", "False").tolist()
        features = np.round(rng.random((n, 2)), 3).tolist()
        tempo = np.round(rng.uniform(60, 200, n), 3).tolist()
        genre = rng.choice(GENRES, n).tolist()
        return [
            [track_id(start + i), f"{first[i]} {last[i]}", f"{words[i][0]} {words[i][1]}".title(),
             f"{words[i][2]} {words[i][3]}".title(), str(popularity[i]), str(duration[i]), explicit[i],
             str(features[i][0]), str(features[i][1]), str(tempo[i]), genre[i]]
            for i in range(n)
        ]  # fmt: skip

    return _generate(out, rows, bad_rate, seed, progress, SONGS_HEADER, chunk, SONGS_BAD)


STREAMS_HEADER = ["user_id", "track_id", "listen_time"]
STREAMS_BAD: Breakers = {
    "missing_user_id": _set(0, ""),
    "bad_track_id": _set(1, "not-a-track"),
    "bad_listen_time": _set(2, "2024-06-25 25:99:00"),
    "ragged_row": _ragged,
}


def generate_streams(
    out: Path,
    rows: int,
    bad_rate: float,
    seed: int,
    progress: Callable[[int], None] | None = None,
    *,
    users: int = 100,
    songs: int = 100,
    days: int = 7,
    now: datetime | None = None,
) -> int:
    """Listens by users 1..`users` of tracks track_id(0..`songs`-1) within the `days` days before `now`.

    Generate at least that many users and songs first, or the transform drops the listens it cannot join.
    """
    if users < 1 or songs < 1 or days < 1:
        raise ValueError("users, songs and days must be >= 1")
    anchor = _anchor(now)
    tracks = np.array([track_id(i) for i in range(songs)])

    def chunk(rng: np.random.Generator, start: int, n: int) -> list[list[str]]:
        user = rng.integers(1, users + 1, size=n).tolist()
        # Popular tracks get most listens: a Zipf-like draw over the pool.
        track = tracks[np.minimum(rng.zipf(1.3, size=n) - 1, songs - 1)].tolist()
        listened = np.datetime_as_string(_instants_before(anchor, rng, n, days), unit="s").tolist()
        return [[str(user[i]), track[i], listened[i].replace("T", " ")] for i in range(n)]

    return _generate(out, rows, bad_rate, seed, progress, STREAMS_HEADER, chunk, STREAMS_BAD)


# Dataset name -> generator: (out, rows, bad_rate, seed, progress) -> number of bad rows.
GENERATORS: dict[str, Callable[..., int]] = {
    "offers": generate_offers,
    "signups": generate_signups,
    "tickets": generate_tickets,
    "orders": generate_orders,
    "users": generate_users,
    "songs": generate_songs,
    "streams": generate_streams,
}
