"""QueryLanguage JSONata states fail: moto 5.2.5 has no JSONata evaluator; AWS evaluates them.

moto: ``eval_jsonata_expression`` calls a module-level ``_eval_jsonata`` that LocalStack binds to a JVM
bridge and moto leaves ``None`` (``'NoneType' object is not callable``).
AWS: JSONata states (``"QueryLanguage": "JSONata"``, ``{% ... %}`` expressions) are evaluated.
Fix: bind it to the pure-Python ``jsonata-python`` evaluator; results are round-tripped through JSON as
the JVM bridge does, and evaluation errors become moto's ``JSONataException``.

Regression tests:
``tests/statemachine/test_moto_fixes/test_jsonata_evaluator.py::test_jsonata_pass_state_output_is_evaluated``,
``tests/statemachine/test_moto_fixes/test_jsonata_evaluator.py::test_jsonata_without_fix_has_no_evaluator``.
"""

from __future__ import annotations

import json
from typing import Any

import jsonata
from moto.stepfunctions.parser.asl.jsonata import jsonata as moto_jsonata

from sluice.local.moto_fixes._patch import Patch


def _eval_jsonata(expression: str) -> Any:
    try:
        result = jsonata.Jsonata(expression).evaluate(None)
    except Exception as ex:
        raise moto_jsonata.JSONataException("UNKNOWN", str(ex)) from ex
    return json.loads(json.dumps(result))


def patches() -> list[Patch]:
    """moto's JSONata hook bound to ``jsonata-python``."""
    return [Patch(moto_jsonata, "_eval_jsonata", _eval_jsonata)]
