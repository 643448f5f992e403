"""Every request lists all the functions of its service's response class to find whether its action exists.

moto: ``BaseResponse.call_action`` calls ``method_names_from_class(self.__class__)``, which is
``inspect.getmembers(clazz, inspect.isfunction)``: a ``getattr`` of every name in ``dir(clazz)`` (a few
hundred for DynamoDB's handler), sorted, on every request, only to test one action name against the list.
In a py-spy profile (``--gil``) of Load's serving writes that was 2.5% of the CPU of the write path
(``bench/results/profile-1m.md``), and every other request of a run pays it too.
AWS: no such thing; a request's cost does not depend on how many actions the service has.
Fix: ``call_action`` gets, instead of the list, an object answering ``action in names`` for that one name:
``inspect.isfunction(getattr(clazz, action, None))``, the test ``getmembers`` applies to each name. Nothing
is cached, so a response method patched in or out (as these corrections do) counts at once.

Regression tests:
``tests/statemachine/test_moto_fixes/test_action_lookup.py::test_every_response_class_finds_exactly_the_actions_moto_lists``,
``tests/statemachine/test_moto_fixes/test_action_lookup.py::test_an_action_moto_lacks_is_still_not_implemented``,
``tests/statemachine/test_moto_fixes/test_action_lookup.py::test_without_the_fix_call_action_lists_every_function``.
"""

from __future__ import annotations

import inspect
from typing import Any

from moto.core import responses

from sluice.local.moto_fixes._patch import Patch


class ActionNames:
    """``name in ActionNames(clazz)`` exactly when ``name`` is in ``method_names_from_class(clazz)``."""

    def __init__(self, clazz: type) -> None:
        self.clazz = clazz

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and inspect.isfunction(getattr(self.clazz, name, None))


def action_names(clazz: Any) -> ActionNames:
    """What ``call_action`` tests its action against."""
    return ActionNames(clazz)


def patches() -> list[Patch]:
    """call_action tests its one action name instead of listing every function of the class."""
    return [Patch(responses, "method_names_from_class", action_names)]
