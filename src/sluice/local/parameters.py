"""Template parameter overrides for local runs (`sluice run --param KEY=VALUE`), checked as CloudFormation would."""

from __future__ import annotations

import re
from typing import Any

from sluice.local.template import SamApp


class ParameterError(ValueError):
    """A --param that is not KEY=VALUE, names no template parameter, or breaks the parameter's constraints."""


def _problem(name: str, value: str, spec: dict[str, Any]) -> str | None:
    allowed = spec.get("AllowedValues")
    if allowed is not None and value not in [str(a) for a in allowed]:
        return f"{name}={value}: not one of {', '.join(map(str, allowed))}"
    pattern = spec.get("AllowedPattern")
    if pattern is not None and not re.fullmatch(pattern, value):
        return f"{name}={value}: does not match {pattern}"
    if spec.get("Type") == "Number":
        try:
            number = float(value)
        except ValueError:
            return f"{name}={value}: not a number"
        if "MinValue" in spec and number < float(spec["MinValue"]):
            return f"{name}={value}: less than the minimum {spec['MinValue']}"
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            return f"{name}={value}: greater than the maximum {spec['MaxValue']}"
    return None


def parse_parameters(texts: list[str], app: SamApp) -> dict[str, str]:
    """`KEY=VALUE` overrides -> {KEY: VALUE}; a later one wins, as with `sam deploy --parameter-overrides`."""
    declared: dict[str, dict[str, Any]] = app.sam.get("Parameters", {})
    overrides: dict[str, str] = {}
    for text in texts:
        name, sep, value = text.partition("=")
        if not sep or not name:
            raise ParameterError(f"--param {text!r}: write KEY=VALUE, e.g. SmallFileMaxBytes=0")
        if name not in declared:
            raise ParameterError(
                f"--param {name}: template.sam.yaml has no such parameter (it has {', '.join(sorted(declared))})"
            )
        problem = _problem(name, value, declared[name])
        if problem:
            raise ParameterError(f"--param {problem}")
        overrides[name] = value
    return overrides
