"""The two transform engines in step: glue/transform.py `main()` on the shared Spark session and the Lambda's
DuckDB engine (sluice_lib.transform_lambda) must write the same rows (every column, `_row_hash` included), in
the same partition directories, with the same Parquet schema and the same manifest (file names aside), for every
shipped contract the Lambda engine may take. Staging is made by the real validation core from generated CSV."""

from __future__ import annotations

import hashlib
import io
import json
import random
import struct
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pyarrow.parquet as pq
import pytest
from lambda_parity_rows import GENERATORS, KEYED_CONTRACT, KINDS_CONTRACT
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from sluice_lib.contracts import Contract, ContractStore, load_contract_text, parse_contract
from sluice_lib.curated import Lineage
from sluice_lib.models import SourceObject
from sluice_lib.transform_engine import engines
from sluice_lib.transform_lambda.engine import transform_folder
from sluice_lib.transform_lambda.java_text import java_double_to_string
from sluice_lib.validate.core import STAGING_FILE, _scan

pytestmark = pytest.mark.spark

CONTRACTS = ContractStore(Path(__file__).resolve().parents[2] / "contracts")
ELIGIBLE = [d for d in CONTRACTS.datasets() if "lambda" in engines(CONTRACTS.get(d))]  # type: ignore[arg-type]
INGESTED_AT = "2025-05-01T12:00:00+02:00"
SOURCE_KEY = "incoming/{dataset}/parity.csv"


def _contract(dataset: str) -> Contract:
    if dataset == "parity_kinds":
        return parse_contract(load_contract_text(KINDS_CONTRACT), "parity_kinds")
    if dataset == "parity_keyed":
        return parse_contract(load_contract_text(KEYED_CONTRACT), "parity_keyed")
    found = CONTRACTS.get(dataset)
    assert found is not None
    return found


def _stage(tmp: Path, contract: Contract, body: bytes) -> Path:
    """Staging Parquet as Validate writes it, in an `ingest_id=` folder as the Glue job expects."""
    scanned = tmp / "scan"
    scanned.mkdir()
    source = SourceObject(bucket="parity", key=SOURCE_KEY.format(dataset=contract.dataset))
    _scan(io.BytesIO(body), source, contract, scanned)  # staging Parquet and the bad rows
    folder = tmp / "staging" / contract.dataset / "ingest_id=parity"
    folder.mkdir(parents=True)
    (scanned / STAGING_FILE).rename(folder / STAGING_FILE)
    return folder


def _both(
    transform: ModuleType, contract: Contract, staging: Path, tmp: Path
) -> tuple[dict, dict, Path, Path]:
    glue_out, lambda_out = tmp / "glue", tmp / "lambda"
    key = SOURCE_KEY.format(dataset=contract.dataset)
    glue_manifest = transform.main(
        ["--run_id", "run-1", "--dataset", contract.dataset, "--source", str(staging), "--output", str(glue_out),
         "--contract", contract.to_json(), "--source_key", key, "--ingested_at", INGESTED_AT]
    )  # fmt: skip
    lambda_manifest = transform_folder(
        staging,
        lambda_out,
        contract,
        run_id="run-1",
        lineage=Lineage("parity", key, datetime.fromisoformat(INGESTED_AT)),
    )
    assert json.loads((glue_out / "_manifest.json").read_text()) == glue_manifest
    assert json.loads((lambda_out / "_manifest.json").read_text()) == lambda_manifest
    return glue_manifest, lambda_manifest, glue_out / "data", lambda_out / "data"


def _data_files(data: Path) -> list[Path]:
    return sorted(p for p in data.rglob("*") if p.is_file() and not p.name.startswith((".", "_")))


def _exact(value: Any) -> Any:
    """Floats by their bits (NaN equals NaN, -0.0 differs from 0.0)."""
    return ("double", struct.pack(">d", value).hex()) if isinstance(value, float) else value


def rows(data: Path) -> list[tuple[str, tuple[tuple[str, Any], ...]]]:
    """(partition directory, row) of every file, sorted."""
    found = []
    for path in _data_files(data):
        folder = path.parent.relative_to(data).as_posix()
        for row in pq.read_table(path).to_pylist():
            found.append((folder, tuple((k, _exact(v)) for k, v in row.items())))
    return sorted(found, key=repr)


# DuckDB annotates INT32/INT64 columns with the signed-integer logical type of their own width, which Spark
# leaves out: the same type to every reader (Spark, Athena, Arrow read int / bigint either way).
_PLAIN_INTEGERS = {("INT32", "Int(bitWidth=32, isSigned=true)"), ("INT64", "Int(bitWidth=64, isSigned=true)")}


def _logical(physical: str, logical: str) -> str:
    return "None" if (physical, logical) in _PLAIN_INTEGERS else logical


def schemas(data: Path) -> set[tuple[Any, ...]]:
    """Each file's columns: name, Arrow type, nullable, Parquet physical and logical type."""
    found = set()
    for path in _data_files(data):
        arrow = pq.read_schema(path)
        parquet = pq.ParquetFile(path).schema
        found.add(
            tuple(
                (
                    f.name,
                    str(f.type),
                    f.nullable,
                    parquet.column(i).physical_type,
                    _logical(parquet.column(i).physical_type, str(parquet.column(i).logical_type)),
                )
                for i, f in enumerate(arrow)
            )
        )
    return found


def _without_file_names(manifest: dict) -> dict:
    return {**manifest, "files": sorted(f.rsplit("/", 1)[0] if "/" in f else "" for f in manifest["files"])}


def test_eligible_shipped_contracts_have_row_generators():
    assert ELIGIBLE, "no shipped contract is eligible for the Lambda engine"
    missing = [d for d in ELIGIBLE if d not in GENERATORS]
    assert not missing, f"add a row generator to tests/glue/lambda_parity_rows.py for {missing}"


@pytest.mark.parametrize("dataset", [*ELIGIBLE, "parity_kinds", "parity_keyed"])
def test_engines_write_identical_rows_schema_and_manifest(
    spark: SparkSession, transform: ModuleType, tmp_path: Path, dataset: str
):
    contract = _contract(dataset)
    staging = _stage(tmp_path, contract, GENERATORS[dataset](random.Random(dataset), 90))

    glue_manifest, lambda_manifest, glue_data, lambda_data = _both(transform, contract, staging, tmp_path)

    assert glue_manifest["rows_read"] > glue_manifest["rows_written"] > 0  # duplicates were dropped
    assert _without_file_names(lambda_manifest) == _without_file_names(glue_manifest)
    assert rows(lambda_data) == rows(glue_data)
    glue_schemas = schemas(glue_data)
    assert len(glue_schemas) == 1
    assert schemas(lambda_data) == glue_schemas


@pytest.mark.parametrize("dataset", ["offers", "songs"])
def test_engines_agree_on_a_header_only_file(
    spark: SparkSession, transform: ModuleType, tmp_path: Path, dataset: str
):
    contract = _contract(dataset)
    header = GENERATORS[dataset](random.Random(1), 1).split(b"\r\n", 1)[0] + b"\r\n"
    staging = _stage(tmp_path, contract, header)

    glue_manifest, lambda_manifest, glue_data, lambda_data = _both(transform, contract, staging, tmp_path)

    # Partitioned: no data file at all. Unpartitioned: one file holding only the schema.
    expected_files = [] if contract.pipeline.partition_by else [""]
    assert _without_file_names(glue_manifest)["files"] == expected_files
    assert _without_file_names(lambda_manifest) == _without_file_names(glue_manifest)
    assert schemas(lambda_data) == schemas(glue_data)


def test_engines_trim_java_whitespace_and_hash_java_text(
    spark: SparkSession, transform: ModuleType, tmp_path: Path
):
    contract = _contract("parity_kinds")
    body = (
        "id,label,region,day,at,born,flag,score,seen\r\n"
        '1,"\x0b a \x0c\t",north,2024-02-29,12:00:00,1999,true,1e7,2024-03-10T01:30:00+05:30\r\n'
        '2,"b \u2028",north,,,,,1e-4,\r\n'
        '3,"c\u00a0",north,,,,false,2e23,\r\n'
        '4,"   ",,,,,,-0.0,\r\n'
        '5,"d \u0085 ",a/b,,,,,NaN,\r\n'
    ).encode()
    staging = _stage(tmp_path, contract, body)

    _, _, glue_data, lambda_data = _both(transform, contract, staging, tmp_path)

    def by_id(data: Path) -> dict[int, tuple[str, dict[str, Any]]]:
        return {
            r["id"]: (p.parent.relative_to(data).as_posix(), r)
            for p in _data_files(data)
            for r in pq.read_table(p).to_pylist()
        }

    for data in (glue_data, lambda_data):
        got = by_id(data)
        assert {i: got[i][1]["title"] for i in got} == {
            1: "a",
            2: "b\u2028",
            3: "c\u00a0",
            4: "",
            5: "d \u0085",
        }
        assert {i: got[i][0] for i in got} == {
            1: "area=north/day=2024-02-29/born=1999",
            2: "area=north/day=__HIVE_DEFAULT_PARTITION__/born=__HIVE_DEFAULT_PARTITION__",
            3: "area=north/day=__HIVE_DEFAULT_PARTITION__/born=__HIVE_DEFAULT_PARTITION__",
            4: "area=__HIVE_DEFAULT_PARTITION__/day=__HIVE_DEFAULT_PARTITION__/born=__HIVE_DEFAULT_PARTITION__",
            5: "area=a%2Fb/day=__HIVE_DEFAULT_PARTITION__/born=__HIVE_DEFAULT_PARTITION__",
        }
        text = {
            1: "1:1" "1:a" "5:north" "10:2024-02-29" "8:12:00:00" "4:1999" "4:true" "5:1.0E7" "27:2024-03-09T20:00:00.000000Z",
            2: "1:2" "2:b\u2028" "5:north" "-" "-" "-" "-" "6:1.0E-4" "-",
            3: "1:3" "2:c\u00a0" "5:north" "-" "-" "-" "5:false" "21:1.9999999999999998E23" "-",
            4: "1:4" "0:" "-" "-" "-" "-" "-" "4:-0.0" "-",
            5: "1:5" "3:d \u0085" "3:a/b" "-" "-" "-" "-" "3:NaN" "-",
        }  # fmt: skip
        assert {i: got[i][1]["_row_hash"] for i in got} == {
            i: hashlib.sha256(t.encode()).hexdigest() for i, t in text.items()
        }
        assert got[1][1]["seen"] == datetime(2024, 3, 9, 20, 0, tzinfo=UTC)
        assert got[1][1]["flag"] is True and got[2][1]["at"] is None


def test_java_text_of_doubles_is_sparks_cast_to_string(spark: SparkSession):
    rng = random.Random(7)
    values = [1e7, 1e-4, 2e23, 1e23, 5e-324, -0.0, 0.0, 9007199254740993.0, 1.7976931348623157e308]
    values += [struct.unpack(">d", rng.getrandbits(64).to_bytes(8, "big"))[0] for _ in range(4000)]
    values += [float(rng.randrange(2**53, 2**63)) for _ in range(1000)]
    values += [round(rng.uniform(0, 1000), rng.randrange(8)) for _ in range(1000)]
    frame = spark.createDataFrame([(i, v) for i, v in enumerate(values)], "i long, v double")
    spark_text = dict(frame.select("i", F.col("v").cast("string")).collect())

    assert {i: java_double_to_string(v) for i, v in enumerate(values)} == spark_text
    assert [spark_text[i] for i in range(6)] == [
        "1.0E7",
        "1.0E-4",
        "1.9999999999999998E23",
        "9.999999999999999E22",
        "4.9E-324",
        "-0.0",
    ]
