"""The fanned-out Validate's cut (sluice_lib.validate.ranges) and chunk check (fan_out.check_chunk), without AWS:
for any range size, the chunks' staging rows and bad rows equal the single path's on the same bytes."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from steps_aws import SETTINGS
from validate_world import OFFERS_HEADER, offers_row

from sluice_lib.models import Chunk, RangeScan, SourceObject
from sluice_lib.validate.core import STAGING_FILE, _scan
from sluice_lib.validate.fan_out import BAD_ROWS_HEADER, check_chunk, staging_part
from sluice_lib.validate.ranges import byte_ranges, plan_chunks, scan_range
from sluice_lib.validate.reader import read_header
from sluice_lib.validate.stream import open_checked

CONTRACT = SETTINGS.contracts().get("offers")
SOURCE = SourceObject(bucket="raw", key="incoming/offers/tricky.csv")
HEADER = OFFERS_HEADER + ",note"


def tricky_file(newline: str) -> bytes:
    """BOM; notes (an extra column) quoted over several lines, with commas, escaped quotes and CRLF inside;
    blank lines; ragged and invalid rows; one note longer than most ranges (ranges with no record start)."""
    long_note = '"' + "\n".join(f"line {i}, with quotes and text" for i in range(40)) + '"'
    rows = []
    for i in range(60):
        note = {0: '"a\nb"', 1: '"x, ""y""\r\nz"', 2: "plain", 3: long_note, 4: '""'}[i % 5]
        if i % 7 == 3:
            rows.append(offers_row(account=f"bad{i}") + "," + note)  # breaks the account pattern
        elif i % 11 == 5:
            rows.append(f"ragged,{i}")
        elif i % 13 == 6:
            rows.append("")
        else:
            rows.append(offers_row(offer_id=f"{i:012d}") + "," + note)
    return b"\xef\xbb\xbf" + newline.join([HEADER, *rows, ""]).encode()


def single_path(data: bytes, folder: Path) -> tuple[int, int, pa.Table, str, int]:
    _, rows, bad, blank = _scan(io.BytesIO(data), SOURCE, CONTRACT, folder)
    return rows, bad, pq.read_table(folder / STAGING_FILE), (folder / "bad_rows.csv").read_text(), blank


def scans_of(data: bytes, range_bytes: int, block: int) -> list[RangeScan]:
    scans = []
    for r in byte_ranges(len(data), range_bytes):
        part = data[r.start : r.end + 1]
        scans.append(
            scan_range(r.index, r.start, r.end, (part[i : i + block] for i in range(0, len(part), block)))
        )
    return scans


def fanned_out(data: bytes, chunks: list[Chunk], folder: Path) -> tuple[int, int, pa.Table, str, int]:
    header, _ = read_header(open_checked(io.BytesIO(data), SOURCE.key, SOURCE.uri), SOURCE.uri)
    rows = bad = blanks = 0
    tables, quarantine = [], BAD_ROWS_HEADER
    for chunk in chunks:
        sub = folder / str(chunk.index)
        sub.mkdir()
        _, n, b, blank = check_chunk(
            io.BytesIO(data[chunk.start : chunk.end]), chunk, header, SOURCE, CONTRACT, sub
        )
        rows, bad, blanks = rows + n, bad + b, blanks + blank
        tables.append(pq.read_table(sub / staging_part(chunk.index)))
        quarantine += (sub / "bad_rows.csv").read_text().removeprefix(BAD_ROWS_HEADER)
    return rows, bad, pa.concat_tables(tables), quarantine, blanks


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("range_bytes", [97, 256, 1000, 4096])
def test_chunks_of_any_range_size_validate_to_the_single_paths_rows_and_bad_rows(
    tmp_path: Path, newline: str, range_bytes: int
):
    data = tricky_file(newline)
    (tmp_path / "single").mkdir()
    single = single_path(data, tmp_path / "single")

    chunks = plan_chunks(scans_of(data, range_bytes, block=13), len(data))
    (tmp_path / "fan").mkdir()
    fan = fanned_out(data, chunks, tmp_path / "fan")

    assert len(chunks) > 2
    assert fan[0] == single[0] and fan[1] == single[1]
    assert fan[2].equals(single[2])
    assert fan[3] == single[3]
    assert fan[4] == single[4] > 0


def test_plan_chunks_joins_a_range_without_a_record_start_to_the_chunk_before():
    note = '"' + "x" * 300 + '"'
    data = f"{HEADER}\n{offers_row()},{note}\n{offers_row()},short\n".encode()

    chunks = plan_chunks(scans_of(data, 100, block=64), len(data))

    second_row = data.index(b'"\n') + 2
    assert [(c.start, c.end, c.lines_before) for c in chunks] == [
        (0, second_row, 0),
        (second_row, len(data), 2),
    ]


def test_plan_chunks_counts_lines_inside_quotes_and_lone_carriage_returns():
    data = b'h1,h2\r"a\nb",1\r"c",2\rd,3\r'  # lone CRs end records; the LF inside quotes is a line too

    chunks = plan_chunks(scans_of(data, 8, block=3), len(data))

    assert [(c.start, c.lines_before) for c in chunks] == [(0, 0), (14, 3), (20, 4)]


def test_scan_range_reports_quotes_and_both_parities():
    data = b'a"b\nc"d\ne\n'

    (scan,) = scans_of(data, 100, block=4)

    assert scan.quotes == 2
    assert scan.first == [8, 4]  # even: the quote at 1 opens, so the first LF is quoted; odd: it closes
    assert scan.lines == [3, 3]
