"""A batch against the contract: typed valid rows for staging, and every bad row with all its reasons."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import reduce

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sluice_lib.contracts import Contract
from sluice_lib.schema import staging_arrow_schema
from sluice_lib.validate.columns import ColumnMap
from sluice_lib.validate.reader import Batch, RaggedRow
from sluice_lib.validate.rules import Failure, FieldCheck


@dataclass(frozen=True)
class BadRow:
    line: int  # physical line in the file; the header is line 1
    reasons: list[str]
    raw: str  # the row's values re-joined as one CSV record (ragged rows: the text as read)


def join_record(values: list[str]) -> str:
    """Values as one CSV record, quoted only where RFC 4180 needs it."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(values)
    return out.getvalue()[:-2]


def ragged_row(row: RaggedRow, width: int) -> BadRow:
    reason = f"row has {row.columns} values where the header has {width} columns"
    return BadRow(line=row.line, reasons=[reason], raw=row.raw)


class BatchChecker:
    """Checks batches of one file; built once per file from its contract and header."""

    def __init__(self, contract: Contract, columns: ColumnMap) -> None:
        self.schema = staging_arrow_schema(contract)
        self.width = columns.width
        self._checks = [
            FieldCheck(f, columns.index[f.name]) for f in contract.fields if f.name in columns.index
        ]

    def check(self, batch: Batch) -> tuple[pa.RecordBatch, list[BadRow]]:
        """The batch's valid rows (staging types, contract order) and its bad rows (line order)."""
        n = batch.num_rows
        typed: dict[str, pa.Array] = {}
        failures: list[Failure] = []
        for check in self._checks:
            result = check.check(batch.columns[check.column])
            typed[check.spec.name] = result.typed
            failures.extend(result.failures)
        arrays = [typed[f.name] if f.name in typed else pa.nulls(n, f.type) for f in self.schema]
        staged = pa.RecordBatch.from_arrays(arrays, schema=self.schema)
        if not failures:
            return staged, []
        bad = reduce(pc.or_, (f.mask for f in failures))
        return staged.filter(pc.invert(bad)), self._describe(batch, failures, bad)

    def _describe(self, batch: Batch, failures: list[Failure], bad: pa.Array) -> list[BadRow]:
        """Per-row Python, for the bad rows only: their reasons in contract order, raw text and line."""
        rows = np.flatnonzero(bad.to_numpy(zero_copy_only=False))
        reasons: dict[int, list[str]] = {int(i): [] for i in rows}
        for failure in failures:
            at = np.flatnonzero(failure.mask.to_numpy(zero_copy_only=False))
            values = batch.columns[failure.column].take(pa.array(at)).to_pylist()
            for i, value in zip(at.tolist(), values, strict=True):
                reasons[i].append(failure.reason(value))
        taken = pa.array(rows)
        raws = zip(*(col.take(taken).to_pylist() for col in batch.columns), strict=True)
        lines = batch.lines(rows)
        return [
            BadRow(line=line, reasons=reasons[i], raw=join_record(list(raw)))
            for i, line, raw in zip(rows.tolist(), lines, raws, strict=True)
        ]
