"""Frictionless `missingValues` (schema level, default [""]): which values mean "no value" (issue 20, item 8)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from sluice_lib.contracts import ContractError, FieldSpec, parse_contract
from sluice_lib.validate.rules import FieldCheck


def _check(field: dict, values: list[str], missing: list[str] | None) -> tuple[list, list[list[str]]]:
    check = FieldCheck(FieldSpec(**field), 0, missing)
    result = check.check(pa.array(values, pa.string()))
    reasons: list[list[str]] = [[] for _ in values]
    for failure in result.failures:
        for i, bad in enumerate(failure.mask.to_pylist()):
            if bad:
                reasons[i].append(failure.reason(values[i]))
    return result.typed.to_pylist(), reasons


def test_missing_values_default_makes_only_empty_null() -> None:
    typed, reasons = _check({"name": "qty", "type": "integer"}, ["1", "", " 2 ", "NA"], None)
    assert typed == [1, None, 2, None]
    assert reasons == [[], [], [], ["qty: not an integer: 'NA'"]]


def test_missing_values_listed_are_null_even_where_they_would_parse() -> None:
    typed, reasons = _check(
        {"name": "qty", "type": "integer"}, ["1", "NA", "-1", "n/a"], ["", "NA", "-1", "n/a"]
    )
    assert typed == [1, None, None, None]
    assert reasons == [[], [], [], []]


def test_missing_values_make_a_required_field_fail_as_missing() -> None:
    field = {"name": "city", "type": "string", "constraints": {"required": True}}
    _, reasons = _check(field, ["Oslo", "NA", ""], ["", "NA"])
    assert reasons == [[], ["city: a value is required"], ["city: a value is required"]]


def test_missing_values_without_empty_keep_an_empty_string_value() -> None:
    typed, reasons = _check({"name": "note", "type": "string"}, ["a", "", "-"], ["-"])
    assert typed == ["a", "", None]
    assert reasons == [[], [], []]


def test_string_values_are_kept_as_written_and_typed_values_trimmed() -> None:
    typed, _ = _check({"name": "note", "type": "string"}, [" a "], None)
    assert typed == [" a "]
    typed, _ = _check({"name": "qty", "type": "number"}, [" 1.5\t"], None)
    assert typed == [1.5]


def test_contract_accepts_missing_values_and_refuses_a_non_list() -> None:
    base = {"dataset": "d", "schema": {"fields": [{"name": "a"}]}}
    assert parse_contract(base, "d.yaml").table_schema.missingValues == [""]
    given = {**base, "schema": {**base["schema"], "missingValues": ["", "NA"]}}
    assert parse_contract(given, "d.yaml").table_schema.missingValues == ["", "NA"]
    with pytest.raises(ContractError, match="missingValues"):
        parse_contract({**base, "schema": {**base["schema"], "missingValues": "NA"}}, "d.yaml")
