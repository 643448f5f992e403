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


def join_records(columns: list[pa.Array]) -> list[str]:
    """Each row of the columns as join_record makes it; rows that need no quotes are joined in one go."""
    if len(columns) < 2:  # one empty value alone is written as '""'
        return [join_record(list(values)) for values in zip(*(c.to_pylist() for c in columns), strict=True)]
    joined = pc.binary_join_element_wise(*columns, ",")
    # A row needs quotes when a value holds a comma (more commas than separators), a quote or a line end.
    quoted = pc.or_(
        pc.not_equal(pc.count_substring(joined, ","), len(columns) - 1),
        pc.match_substring_regex(joined, '["\r\n]'),
    )
    records: list[str] = joined.to_pylist()
    if quoted.true_count:
        at = np.flatnonzero(quoted.to_numpy(zero_copy_only=False))
        taken = pa.array(at)
        rows = zip(*(c.take(taken).to_pylist() for c in columns), strict=True)
        for i, values in zip(at.tolist(), rows, strict=True):
            records[i] = join_record(list(values))
    return records


def ragged_row(row: RaggedRow, width: int) -> BadRow:
    reason = f"row has {row.columns} values where the header has {width} columns"
    return BadRow(line=row.line, reasons=[reason], raw=row.raw)


class BatchChecker:
    """Checks batches of one file; built once per file from its contract and header."""

    def __init__(self, contract: Contract, columns: ColumnMap) -> None:
        self.schema = staging_arrow_schema(contract)
        self.width = columns.width
        missing = contract.table_schema.missingValues
        self._checks = [
            FieldCheck(f, columns.index[f.name], missing) for f in contract.fields if f.name in columns.index
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
        taken = [col.take(pa.array(rows)) for col in batch.columns]
        values: dict[int, list[str]] = {}  # the bad rows' values of a column that a reason quotes
        reasons: list[list[str]] = [[] for _ in range(len(rows))]
        for failure in failures:
            at = np.searchsorted(rows, np.flatnonzero(failure.mask.to_numpy(zero_copy_only=False)))
            if failure.column not in values:
                values[failure.column] = taken[failure.column].to_pylist()
            quoted = values[failure.column]
            for k in at.tolist():
                reasons[k].append(failure.reason(quoted[k]))
        raws = join_records(taken)
        lines = batch.lines(rows)
        return [
            BadRow(line=line, reasons=why, raw=raw)
            for line, why, raw in zip(lines, reasons, raws, strict=True)
        ]
