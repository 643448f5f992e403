"""Validate, file level: what a file must be (encoding, CSV shape, header) and what is staged from it."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime

import pyarrow as pa
import pytest
from validate_world import OFFERS_HEADER, ValidateWorld, offers_file, offers_row

from events import load_event
from sluice_lib.errors import (
    DuplicateColumnsError,
    EmptyFileError,
    MalformedCsvError,
    MissingColumnsError,
    NotUtf8Error,
    SourceObjectMissingError,
    UnknownDatasetError,
)
from sluice_lib.models import SourceObject, source_from_event

FIRST = {
    "account": "12345678",
    "offer_id": "123456789012",
    "catalog_id": "123456789012345678",
    "account_type_code": "AB",
    "offer_type_id": "87654321",
    "created": datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=UTC),
    "expire": datetime(2025, 6, 1, tzinfo=UTC),
    "risk": "low",
}
SECOND = {
    "account": "00000042",
    "offer_id": "000000000007",
    "catalog_id": "999999999999999999",
    "account_type_code": "ZZ",
    "offer_type_id": "00000001",
    "created": datetime(2024, 12, 31, 18, 30, tzinfo=UTC),
    "expire": datetime(2025, 1, 1, tzinfo=UTC),
    "risk": "high",
}
SECOND_CSV = (
    "00000042,000000000007,999999999999999999,ZZ,00000001,2025-01-01T00:00:00+05:30,2025-01-01T00:00:00Z,high"
)


def test_validate_valid_file_stages_typed_rows_equal_to_the_input(world: ValidateWorld) -> None:
    source = world.put("offers.csv", offers_file(offers_row(), SECOND_CSV))

    out = world.validate(source)

    assert world.staging_rows(out) == [FIRST, SECOND]
    assert world.staging_table(out).schema == pa.schema(
        [
            ("account", pa.string()),
            ("offer_id", pa.string()),
            ("catalog_id", pa.string()),
            ("account_type_code", pa.string()),
            ("offer_type_id", pa.string()),
            ("created", pa.timestamp("us", tz="UTC")),
            ("expire", pa.timestamp("us", tz="UTC")),
            ("risk", pa.string()),
        ]
    )
    assert out.counts.model_dump() == {
        "rows_in": 2,
        "rows_valid": 2,
        "rows_rejected": 0,
        "bytes_in": source.size,
    }
    assert out.quarantine_uri is None
    assert out.dlq_messages == 0
    assert world.keys(world.settings.raw_bucket, "quarantine/") == []


def test_validate_output_names_run_staging_and_output_locations(world: ValidateWorld) -> None:
    source = world.put("offers.csv", offers_file(offers_row()))

    out = world.validate(source, run_id="run-7")

    assert out.run_id == "run-7"
    assert out.dataset == "offers"
    assert out.ingest_id == source.ingest_id
    assert out.staging_uri == f"s3://sluice-lake-local/staging/offers/ingest_id={source.ingest_id}/"
    assert out.staging_table == "staging_offers"
    assert out.output_uri == "s3://sluice-lake-local/runs/offers/run-7/"
    assert out.execution_arn.endswith(":run-7")
    assert out.started_at == "2025-03-01T12:00:01.234Z"
    assert out.source == source
    assert '"dataset":"offers"' in out.contract_json


def test_validate_header_in_any_order_and_case_with_extra_columns_drops_and_reports_them(
    world: ValidateWorld,
) -> None:
    header = " Risk ,NOTE,account,offer_id,catalog_id,account_type_code,offer_type_id,created,Expire,"
    row = "high,call back," + SECOND_CSV.removesuffix(",high") + ","
    source = world.put("offers.csv", f"{header}\n{row}\n".encode())

    out = world.validate(source)

    assert out.extra_columns == ["note", "(unnamed column 10)"]
    assert world.staging_rows(out) == [SECOND]


def test_validate_header_only_stages_zero_rows_with_the_schema(world: ValidateWorld) -> None:
    source = world.put("offers.csv", f"{OFFERS_HEADER}\n".encode())

    out = world.validate(source)

    table = world.staging_table(out)
    assert table.num_rows == 0
    assert table.schema.names == list(FIRST)
    assert out.counts.rows_in == 0


def test_validate_bom_and_crlf_are_read_as_plain_utf8_lines(world: ValidateWorld) -> None:
    data = "\ufeff".encode() + offers_file(offers_row(), SECOND_CSV, newline="\r\n")

    out = world.validate(world.put("offers.csv", data))

    assert world.staging_rows(out) == [FIRST, SECOND]


def test_validate_gzip_by_suffix_and_by_magic_bytes(world: ValidateWorld) -> None:
    packed = gzip.compress(offers_file(offers_row(), SECOND_CSV))

    by_suffix = world.validate(world.put("offers.csv.gz", packed))
    by_magic = world.validate(world.put("offers-packed.csv", packed))

    assert world.staging_rows(by_suffix) == [FIRST, SECOND]
    assert world.staging_rows(by_magic) == [FIRST, SECOND]
    assert by_suffix.counts.bytes_in == len(packed)


def test_validate_rfc4180_quoting_keeps_commas_quotes_and_newlines_in_values(world: ValidateWorld) -> None:
    header = "account,offer_id,catalog_id,account_type_code,offer_type_id,created,expire,risk,note"
    row = offers_row(offer_id='"123456789012"') + ',"a, ""b""\nc"'
    source = world.put("offers.csv", f"{header}\n{row}\n{SECOND_CSV},\n".encode())
    contracts = world.settings.contracts()

    out = world.validate(source, contracts)

    assert world.staging_rows(out) == [FIRST, SECOND]
    assert out.extra_columns == ["note"]


def test_validate_s3_notification_with_url_encoded_key_reads_the_object(world: ValidateWorld) -> None:
    source = source_from_event(load_event("validate_s3_notification")["event"])
    world.aws.s3.put_object(
        Bucket=source.bucket, Key="incoming/offers/März offers.csv", Body=offers_file(SECOND_CSV)
    )

    out = world.validate(source)

    assert source.key == "incoming/offers/März offers.csv"
    assert world.staging_rows(out) == [SECOND]


def test_validate_empty_object_raises_empty_file_error(world: ValidateWorld) -> None:
    with pytest.raises(EmptyFileError, match=r"s3://sluice-raw-local/incoming/offers/empty.csv: .*no bytes"):
        world.validate(world.put("empty.csv", b""))


def test_validate_blank_lines_only_raises_empty_file_error_for_no_header(world: ValidateWorld) -> None:
    with pytest.raises(EmptyFileError, match=r"incoming/offers/blank.csv: the file has no header line"):
        world.validate(world.put("blank.csv", b"\n  \r\n\n"))


def test_validate_latin1_byte_in_the_header_chunk_raises_not_utf8_error_with_its_offset(
    world: ValidateWorld,
) -> None:
    with pytest.raises(NotUtf8Error, match=r"incoming/offers/latin1.csv: not UTF-8 text: .* at offset 10 "):
        world.validate(world.put("latin1.csv", b"account\n12\xe9\n"))


def test_validate_latin1_byte_deep_in_a_large_file_raises_not_utf8_error_with_its_offset(
    world: ValidateWorld,
) -> None:
    good = offers_file(
        *[offers_row()] * 20_000
    )  # ~2.5 MB: the bad byte is met by the CSV reader, not the header
    data = good + b"12345678,caf\xe9\n"

    with pytest.raises(NotUtf8Error, match=rf"at offset {len(good) + 12} "):
        world.validate(world.put("latin1.csv", data))


def test_validate_file_ending_inside_a_multibyte_character_raises_not_utf8_error(
    world: ValidateWorld,
) -> None:
    good = offers_file(offers_row())

    with pytest.raises(
        NotUtf8Error, match=rf"at offset {len(good) + 2} .*ends inside a multi-byte character"
    ):
        world.validate(world.put("cut.csv", good + b"12\xc3"))


def test_validate_invalid_utf8_in_gzip_names_the_decompressed_offset(world: ValidateWorld) -> None:
    data = gzip.compress(b"account\n\xff\n")

    with pytest.raises(NotUtf8Error, match=r"offset 8 of the decompressed content"):
        world.validate(world.put("bad.csv.gz", data))


def test_validate_unterminated_quote_raises_malformed_csv_error(world: ValidateWorld) -> None:
    data = offers_file(
        offers_row(), '12345678,"123456789012,1,AB,1,2025-01-01T00:00:00Z,2025-01-01T00:00:00Z,low'
    )

    with pytest.raises(MalformedCsvError, match=r"incoming/offers/open.csv: a quoted value is never closed"):
        world.validate(world.put("open.csv", data))


def test_validate_gz_name_without_gzip_content_raises_malformed_csv_error(world: ValidateWorld) -> None:
    with pytest.raises(MalformedCsvError, match=r"incoming/offers/plain.csv.gz: not a readable gzip stream"):
        world.validate(world.put("plain.csv.gz", offers_file(offers_row())))


def test_validate_missing_required_columns_raises_error_naming_them(world: ValidateWorld) -> None:
    data = b"account,offer_id,catalog_id,account_type_code,offer_type_id,created\n"

    with pytest.raises(
        MissingColumnsError, match=r"incoming/offers/short.csv: .*required columns: expire, risk"
    ):
        world.validate(world.put("short.csv", data))


def test_validate_duplicate_columns_after_normalising_raise_error(world: ValidateWorld) -> None:
    data = f"{OFFERS_HEADER}, RISK\n".encode()

    with pytest.raises(DuplicateColumnsError, match=r"incoming/offers/dupes.csv: .*more than once: risk"):
        world.validate(world.put("dupes.csv", data))


def test_validate_unknown_dataset_raises_error_naming_the_key(world: ValidateWorld) -> None:
    with pytest.raises(
        UnknownDatasetError, match=r"s3://sluice-raw-local/incoming/widgets/w.csv: no contract"
    ):
        world.validate(world.put("w.csv", b"a\n1\n", dataset="widgets"))


def test_validate_deleted_object_raises_source_object_missing_error(world: ValidateWorld) -> None:
    source = SourceObject(bucket=world.settings.raw_bucket, key="incoming/offers/gone.csv")

    with pytest.raises(SourceObjectMissingError, match=r"incoming/offers/gone\.csv"):
        world.validate(source)
