"""``get_execution_history`` ignores ``maxResults`` and ``nextToken``: every call returns the whole history.

moto: ``StepFunctionResponse.get_execution_history`` reads only ``executionArn``; each call serializes every
event of the execution through moto's shape-driven response serializer, however many the caller asked for.
A caller that follows a long execution (the local runner reads the history about once a second) pays for
the whole history each time: in a py-spy profile of a 100,000-row run, 12% of the CPU holding the GIL was
that serialization, taken from the Load function's work (``bench/results/profile-1m.md``).
AWS: a page holds at most ``maxResults`` events (default 100, at most 1000; 0 means the default), oldest
first or, with ``reverseOrder``, newest first; a ``nextToken`` is returned while events remain, and a token
that is not one AWS gave fails with ``InvalidToken``.
Fix: the events are ordered by id (newest first with ``reverseOrder``) and cut into pages of ``maxResults``;
the token names the id of the page's last event, so a page read later continues after that event even while
the execution adds events. A ``maxResults`` outside 0-1000 fails with a ``ValidationException``.

Regression tests:
``tests/statemachine/test_moto_fixes/test_history_pages.py::test_pages_hold_max_results_events_and_chain_by_token``,
``tests/statemachine/test_moto_fixes/test_history_pages.py::test_reverse_pages_start_from_the_newest_event``,
``tests/statemachine/test_moto_fixes/test_history_pages.py::test_default_page_is_100_events``,
``tests/statemachine/test_moto_fixes/test_history_pages.py::test_invalid_token_and_page_size_fail_as_on_aws``,
``tests/statemachine/test_moto_fixes/test_history_pages.py::test_without_the_fix_one_page_holds_every_event``.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from typing import Any

from moto.stepfunctions.exceptions import InvalidToken, ValidationException
from moto.stepfunctions.responses import StepFunctionResponse

from sluice.local.moto_fixes._patch import Patch

DEFAULT_PAGE = 100
MAX_PAGE = 1000


def _token(execution_arn: str, reverse: bool, last_id: int) -> str:
    text = json.dumps({"arn": execution_arn, "reverse": reverse, "after": last_id})
    return base64.urlsafe_b64encode(text.encode()).decode()


def _after(token: str, execution_arn: str, reverse: bool) -> int:
    """The id of the last event a page ended with, from that page's token."""
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
        if decoded["arn"] != execution_arn or decoded["reverse"] is not reverse:
            raise ValueError("token of another request")
        return int(decoded["after"])
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise InvalidToken(f"'{token}' is not a token this request returned") from exc


def _page(events: list[dict[str, Any]], params: dict[str, Any], execution_arn: str) -> dict[str, Any]:
    """One page of `events` as AWS cuts it for the request's maxResults, nextToken and reverseOrder."""
    size = params.get("maxResults") or DEFAULT_PAGE
    if not isinstance(size, int) or not 0 < size <= MAX_PAGE:
        bound = (
            "greater than or equal to 0"
            if isinstance(size, int) and size < 0
            else f"less than or equal to {MAX_PAGE}"
        )
        raise ValidationException(
            f"1 validation error detected: Value '{size}' at 'maxResults' failed to satisfy constraint: "
            f"Member must have value {bound}"
        )
    reverse = bool(params.get("reverseOrder"))
    ordered = sorted(events, key=lambda event: int(event["id"]), reverse=reverse)
    token = params.get("nextToken")
    if token:
        after = _after(token, execution_arn, reverse)
        ordered = [e for e in ordered if (int(e["id"]) < after if reverse else int(e["id"]) > after)]
    page: dict[str, Any] = {"events": ordered[:size]}
    if len(ordered) > size:
        page["nextToken"] = _token(execution_arn, reverse, int(ordered[size - 1]["id"]))
    return page


def patches() -> list[Patch]:
    """Pages of at most maxResults events, chained by nextToken."""
    history = StepFunctionResponse.get_execution_history

    @functools.wraps(history)
    def get_execution_history(self: Any) -> Any:
        result = history(self)
        body = getattr(result, "result", None)
        if isinstance(body, dict) and isinstance(body.get("events"), list):
            params = {name: self._get_param(name) for name in ("maxResults", "nextToken", "reverseOrder")}
            paged = _page(body["events"], params, self._get_param("executionArn"))
            body.clear()
            body.update(paged)
        return result

    return [Patch(StepFunctionResponse, "get_execution_history", get_execution_history)]
