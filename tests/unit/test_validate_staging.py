"""Validate, local outputs: the staging Parquet file's encodings, the bad-row files' exact text."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from validate_world import OFFERS_HEADER, offers_row

from sluice_lib.contracts import ContractStore
from sluice_lib.models import SourceObject
from sluice_lib.validate.check import BadRow, join_records
from sluice_lib.validate.core import _scan
from sluice_lib.validate.outputs import BadRowWriter, StagingWriter
from sluice_lib.validate.stream import open_checked

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
SCHEMA = pa.schema(
    [
        ("offer_id", pa.string()),
        ("account_type_code", pa.string()),
        ("note", pa.string()),
        ("created", pa.timestamp("us", tz="UTC")),
        ("amount", pa.float64()),
    ]
)
ROWS = 3000


def staging_batch(start: int, rows: int) -> pa.RecordBatch:
    """Unique scrambled 12-digit ids, a two-letter code from three, repetitive text, instants, amounts."""
    return pa.RecordBatch.from_pydict(
        {
            "offer_id": [f"{(i * 7_919_876_543) % 10**12:012d}" for i in range(start, start + rows)],
            "account_type_code": [("AB", "CD", "EF")[i % 3] for i in range(start, start + rows)],
            "note": [f"delivered to depot {i % 5} on time" for i in range(start, start + rows)],
            "created": [datetime(2025, 1, 1, 0, 0, i % 60, tzinfo=UTC) for i in range(start, start + rows)],
            "amount": [float(i % 97) for i in range(start, start + rows)],
        },
        schema=SCHEMA,
    )


def write_staging(path: Path) -> None:
    with StagingWriter(path, SCHEMA) as staging:
        staging.write(staging_batch(0, ROWS // 2))
        staging.write(staging_batch(ROWS // 2, ROWS - ROWS // 2))


def test_validate_staging_file_reads_back_the_rows_with_the_staging_logical_types(tmp_path: Path) -> None:
    write_staging(tmp_path / "part.parquet")

    table = pq.read_table(tmp_path / "part.parquet")
    parquet_schema = pq.ParquetFile(tmp_path / "part.parquet").schema

    assert table.schema == SCHEMA
    assert table.num_rows == ROWS
    assert table.slice(0, 2).to_pylist() == [
        {
            "offer_id": "000000000000",
            "account_type_code": "AB",
            "note": "delivered to depot 0 on time",
            "created": datetime(2025, 1, 1, tzinfo=UTC),
            "amount": 0.0,
        },
        {
            "offer_id": "007919876543",
            "account_type_code": "CD",
            "note": "delivered to depot 1 on time",
            "created": datetime(2025, 1, 1, 0, 0, 1, tzinfo=UTC),
            "amount": 1.0,
        },
    ]
    assert str(parquet_schema.column(0).logical_type) == "String"
    created = parquet_schema.column(3)
    assert created.physical_type == "INT64"
    assert created.logical_type.to_json().startswith(
        '{"Type":"Timestamp","isAdjustedToUTC":true,"timeUnit":"microseconds"'
    )


def test_validate_staging_columns_get_dictionary_compression_and_statistics_only_where_they_pay(
    tmp_path: Path,
) -> None:
    write_staging(tmp_path / "part.parquet")

    group = pq.ParquetFile(tmp_path / "part.parquet").metadata.row_group(0)
    columns = {group.column(i).path_in_schema: group.column(i) for i in range(group.num_columns)}

    # Unique random ids: plain, no dictionary, no codec (and no DELTA_LENGTH_BYTE_ARRAY: Spark 3.5.6).
    assert not columns["offer_id"].has_dictionary_page
    assert set(columns["offer_id"].encodings) == {"PLAIN", "RLE"}  # RLE: the definition levels
    assert columns["offer_id"].compression == "UNCOMPRESSED"
    # A repeating code and repetitive text: dictionary and snappy.
    assert columns["account_type_code"].has_dictionary_page
    assert columns["account_type_code"].compression == "SNAPPY"
    assert columns["note"].compression == "SNAPPY"
    # Statistics on non-string columns only.
    assert [name for name, c in columns.items() if c.is_stats_set] == ["created", "amount"]
    assert columns["created"].statistics.min == datetime(2025, 1, 1, tzinfo=UTC)
    assert columns["created"].statistics.max == datetime(2025, 1, 1, 0, 0, 59, tzinfo=UTC)


def test_validate_staging_without_rows_is_an_empty_file_with_the_schema(tmp_path: Path) -> None:
    with StagingWriter(tmp_path / "part.parquet", SCHEMA):
        pass

    table = pq.read_table(tmp_path / "part.parquet")

    assert table.schema == SCHEMA
    assert table.num_rows == 0


def test_validate_bad_row_files_hold_values_csv_and_json_would_write(tmp_path: Path) -> None:
    rows = [
        BadRow(line=2, reasons=["a: 'x' is not one of low, high"], raw="x,plain"),
        BadRow(line=3, reasons=["b: 'say \"hi\"' is bad", "c: a value is required"], raw='"say ""hi""",'),
        BadRow(line=5, reasons=["d: 'caf\u00e9\\\\'"], raw='"two\nlines",\u20ac'),
        BadRow(line=7, reasons=["e: '\\x01'"], raw="carriage\rreturn,\x01"),
        BadRow(line=9, reasons=["f"], raw=""),
    ]

    with BadRowWriter(tmp_path) as writer:
        writer.write(rows[:2])
        writer.write(rows[2:])

    assert (tmp_path / "bad_rows.csv").read_bytes().decode() == (
        "line,reasons,raw\n"
        '2,"a: \'x\' is not one of low, high","x,plain"\n'
        '3,"b: \'say ""hi""\' is bad; c: a value is required","""say """"hi"""""","\n'
        '5,d: \'caf\u00e9\\\\\',"""two\nlines"",\u20ac"\n'
        "7,e: '\\x01',\"carriage\rreturn,\x01\"\n"
        "9,f,\n"
    )
    assert (tmp_path / "bad_rows.jsonl").read_text(encoding="utf-8").splitlines() == [
        '{"line":2,"reasons":["a: \'x\' is not one of low, high"],"raw":"x,plain"}',
        '{"line":3,"reasons":["b: \'say \\"hi\\"\' is bad","c: a value is required"],"raw":"\\"say \\"\\"hi\\"\\"\\","}',
        '{"line":5,"reasons":["d: \'caf\\u00e9\\\\\\\\\'"],"raw":"\\"two\\nlines\\",\\u20ac"}',
        '{"line":7,"reasons":["e: \'\\\\x01\'"],"raw":"carriage\\rreturn,\\u0001"}',
        '{"line":9,"reasons":["f"],"raw":""}',
    ]


def test_validate_join_records_quotes_only_values_that_need_it() -> None:
    columns = [
        pa.array(["a", "has,comma", 'has"quote', "two\nlines", "", "cr\rhere"], pa.string()),
        pa.array(["b", "x", "y", "z", "", "w"], pa.string()),
    ]

    assert join_records(columns) == [
        "a,b",
        '"has,comma",x',
        '"has""quote",y',
        '"two\nlines",z',
        ",",
        '"cr\rhere",w',
    ]
    assert join_records([pa.array(["", "a,b", "c"], pa.string())]) == ['""', '"a,b"', "c"]


def test_validate_quoted_line_break_after_the_first_batch_moves_later_line_numbers(tmp_path: Path) -> None:
    """The reader looks for line breaks in values only once it has read a quote."""
    good = offers_row()
    rows = [good] * 12_000  # about 1.5 MB: more than one batch before the quoted value
    rows.append(offers_row(risk='"low\nhigh"'))
    rows.append(offers_row(account=""))
    data = ("\n".join([OFFERS_HEADER, *rows]) + "\n").encode()
    contract = ContractStore(CONTRACTS).get("offers")
    source = SourceObject(bucket="raw", key="incoming/offers/big.csv")

    _, rows_in, bad, _ = _scan(io.BytesIO(data), source, contract, tmp_path)

    with open(tmp_path / "bad_rows.csv", encoding="utf-8", newline="") as f:
        written = [(line, reasons) for line, reasons, _ in csv.reader(f)]
    assert (rows_in, bad) == (12_002, 2)
    # header line 1, 12,000 rows, a row over two lines (12,002-12,003), then the row missing its account
    assert written == [
        ("line", "reasons"),
        ("12002", "risk: 'low\\nhigh' is not one of low, medium, high"),
        ("12004", "account: a value is required"),
    ]


def test_validate_checked_stream_counts_quotes_in_chunks_with_and_without_them() -> None:
    data = b'a,b\n1,2\n"x",3\n' + b"4,5\n" * 1000 + b'"he said ""hi""",6\n'
    stream = open_checked(io.BytesIO(data), "f.csv", "s3://raw/f.csv")

    while stream.read(64):
        pass

    assert stream.quotes == 8
