"""The grammar rejects an integer ``ToleratedFailurePercentage`` (``10``); AWS accepts any number 0 to 100.

moto: ASLParser's ``tolerated_failure_percentage_decl`` accepts only the lexer's NUMBER token, which
requires a fraction or exponent; an INT (``10``) is a syntax error, so ``create_state_machine`` fails
with InvalidDefinition (``AmazonStateLanguageParser.parse``).
AWS: ``"ToleratedFailurePercentage": 10`` is a valid definition.
Fix: before the definition is lexed, integer values of that key are rewritten as floats (``10.0``); the
stored definition is unchanged. Definitions without the key are parsed untouched.

Regression tests:
``tests/statemachine/test_moto_fixes/test_integer_tolerated_failure_percentage.py::test_integer_tolerated_failure_percentage_is_accepted_and_stored_as_written``,
``tests/statemachine/test_moto_fixes/test_integer_tolerated_failure_percentage.py::test_integer_tolerated_failure_percentage_without_fix_is_an_invalid_definition``.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

from sluice.local.moto_fixes._patch import Patch


def _float_percentages(node: Any) -> bool:
    """Turn integer ToleratedFailurePercentage values into floats, in place; True if any changed."""
    changed = False
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "ToleratedFailurePercentage" and isinstance(value, int) and not isinstance(value, bool):
                node[key] = float(value)
                changed = True
            else:
                changed = _float_percentages(value) or changed
    elif isinstance(node, list):
        for item in node:
            changed = _float_percentages(item) or changed
    return changed


def patches() -> list[Patch]:
    """Parse integer percentages as floats."""
    parse = AmazonStateLanguageParser.parse

    @functools.wraps(parse)
    def _parse(definition: str) -> Any:
        if "ToleratedFailurePercentage" in definition:
            try:
                document = json.loads(definition)
            except ValueError:
                return parse(definition)
            if _float_percentages(document):
                definition = json.dumps(document)
        return parse(definition)

    return [Patch(AmazonStateLanguageParser, "parse", staticmethod(_parse))]
