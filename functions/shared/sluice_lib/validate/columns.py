"""Header to contract: which header position holds each field, which columns are extra, what is wrong."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from sluice_lib.contracts import Contract
from sluice_lib.errors import DuplicateColumnsError, MissingColumnsError


@dataclass(frozen=True)
class ColumnMap:
    index: dict[str, int]  # contract field name -> position in the header
    extra: list[str]  # header columns the contract does not name (dropped)
    width: int  # columns in the header


def normalise(name: str) -> str:
    """A header name as a contract field name: `Order ID`, `orderId`, `order-id` -> `order_id`.

    The same rule as the Glue job's snake_case (a leading digit gets a `_` prefix); a name without
    letters or digits becomes "" (an unnamed column).
    """
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name.strip())
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    s = re.sub(r"[^0-9a-zA-Z]+", "_", s).strip("_").lower()
    return f"_{s}" if s[:1].isdigit() else s


_OTHER_DELIMITERS = {";": "';'", "\t": "tab", "|": "'|'"}


def delimiter_hint(header: list[str]) -> str:
    """`; ...: a ';'-delimited file?` when the header, read as comma-separated, is one column holding another
    delimiter more than once; "" otherwise."""
    if len(header) != 1:
        return ""
    counts = {d: header[0].count(d) for d in _OTHER_DELIMITERS}
    delimiter = max(counts, key=lambda d: counts[d])
    if counts[delimiter] < 1:
        return ""
    name = _OTHER_DELIMITERS[delimiter]
    return (
        f"; the header is one column holding {counts[delimiter]} {name} characters: is the file "
        f"{name}-delimited? Uploads must be comma-separated (RFC 4180)"
    )


def map_columns(header: list[str], contract: Contract, uri: str) -> ColumnMap:
    """Matches header names (cleaned to lower snake case, see normalise) to contract fields, in any order."""
    names = [normalise(n) for n in header]
    repeated = sorted(n for n, k in Counter(n for n in names if n).items() if k > 1)
    if repeated:
        raise DuplicateColumnsError(
            f"{uri}: the header names these columns more than once: {', '.join(repeated)}"
        )
    index = {n: i for i, n in enumerate(names) if n}
    missing = [c for c in contract.required_columns() if c not in index]
    if missing:
        raise MissingColumnsError(
            f"{uri}: the header lacks required columns: {', '.join(missing)} "
            f"(header: {', '.join(header).replace(chr(9), '\\t')}){delimiter_hint(header)}"
        )
    known = {f.name for f in contract.fields}
    extra = [n or f"(unnamed column {i + 1})" for i, n in enumerate(names) if n not in known]
    return ColumnMap(
        index={f.name: index[f.name] for f in contract.fields if f.name in index},
        extra=extra,
        width=len(names),
    )
