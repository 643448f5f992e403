"""``get_execution_history`` ignores ``reverseOrder``: events always come oldest first.

moto: ``StepFunctionResponse.get_execution_history`` reads only ``executionArn``; a caller asking for the
newest events first (to find the state that failed) reads the oldest instead.
AWS: ``reverseOrder=True`` lists the events newest first.
Fix: reverse the events (by id) when ``reverseOrder`` is true.

Regression tests:
``tests/statemachine/test_moto_fixes/test_history_reverse_order.py::test_execution_history_reverse_order_returns_newest_event_first``,
``tests/statemachine/test_moto_fixes/test_history_reverse_order.py::test_execution_history_reverse_order_without_fix_returns_oldest_first``.
"""

from __future__ import annotations

import functools
from typing import Any

from moto.stepfunctions.responses import StepFunctionResponse

from sluice.local.moto_fixes._patch import Patch


def patches() -> list[Patch]:
    """Newest event first when ``reverseOrder`` is true."""
    history = StepFunctionResponse.get_execution_history

    @functools.wraps(history)
    def get_execution_history(self: Any) -> Any:
        result = history(self)
        if self._get_param("reverseOrder"):
            body = result.result if hasattr(result, "result") else None
            if isinstance(body, dict) and isinstance(body.get("events"), list):
                body["events"] = sorted(body["events"], key=lambda e: e["id"], reverse=True)
        return result

    return [Patch(StepFunctionResponse, "get_execution_history", get_execution_history)]
