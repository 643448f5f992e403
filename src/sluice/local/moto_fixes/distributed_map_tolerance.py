"""Distributed Map item failures are swallowed and ``ToleratedFailureCount``/``Percentage`` ignored.

moto: the distributed item worker counts a failed item and stores ``None`` as its result, and nothing
compares the count with the thresholds (``DistributedIterationComponent._map_run``), so a Map Run with
failed items always succeeds.
AWS: the Map Run fails with ``States.ExceedToleratedFailureThreshold`` when the failed (or timed-out)
items exceed ``ToleratedFailureCount``, or their share exceeds ``ToleratedFailurePercentage``; a threshold
the definition does not set does not apply, and with neither set a single failure fails the Map.
Fix: after the Map Run, apply those thresholds. The error is raised inside the Map Run, so moto logs
MapRunFailed and the Map state's Retry/Catch see it. Which thresholds are set is recorded when the state
is parsed (``StateMap.from_state_props``), since both default to 0.

Regression tests:
``tests/statemachine/test_moto_fixes/test_distributed_map_tolerance.py::test_distributed_map_fails_past_its_tolerated_failure_threshold``,
``tests/statemachine/test_moto_fixes/test_distributed_map_tolerance.py::test_distributed_map_threshold_error_reaches_catch``,
``tests/statemachine/test_moto_fixes/test_distributed_map_tolerance.py::test_distributed_map_without_fix_swallows_item_failures``.
"""

from __future__ import annotations

import functools
from typing import Any

from moto.stepfunctions.parser.api import HistoryEventType, MapRunFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.distributed_iteration_component import (
    DistributedIterationComponent,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map import StateMap
from moto.stepfunctions.parser.asl.component.state.exec.state_map.tolerated_failure import (
    ToleratedFailureCountDecl,
    ToleratedFailurePercentageDecl,
)
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

from sluice.local.moto_fixes._patch import Patch


def patches() -> list[Patch]:
    """Record which thresholds a Map sets; fail its Map Run past them."""
    from_state_props = StateMap.from_state_props
    map_run = DistributedIterationComponent._map_run

    @functools.wraps(from_state_props)
    def _from_state_props(self: Any, state_props: Any) -> None:
        from_state_props(self, state_props)
        self.iteration_component.sluice_tolerance_set = (
            state_props.get(ToleratedFailureCountDecl) is not None,
            state_props.get(ToleratedFailurePercentageDecl) is not None,
        )

    @functools.wraps(map_run)
    def _map_run(self: Any, env: Any, eval_input: Any) -> None:
        map_run(self, env, eval_input)
        counts = eval_input.map_run_record.item_counter
        failed, total = counts.failed.get() + counts.timed_out.get(), counts.total.get()
        if not failed:
            return
        count, percentage = eval_input.tolerated_failure_count, eval_input.tolerated_failure_percentage
        count_set, percentage_set = getattr(self, "sluice_tolerance_set", (bool(count), bool(percentage)))
        if count_set or percentage_set:
            exceeded = (count_set and failed > count) or (
                percentage_set and 100.0 * failed / total > percentage
            )
        else:
            exceeded = True
        if not exceeded:
            return
        env.stack.pop()  # the Map Run's outputs
        error = StatesErrorNameType.StatesExceedToleratedFailureThreshold
        cause = (
            f"The specified tolerated failure threshold was exceeded: {failed} of {total} items failed "
            f"(ToleratedFailureCount {count if count_set else 'not set'}, "
            f"ToleratedFailurePercentage {percentage if percentage_set else 'not set'})."
        )
        raise FailureEventException(
            FailureEvent(
                env=env,
                error_name=StatesErrorName(typ=error),
                event_type=HistoryEventType.MapRunFailed,
                event_details=EventDetails(  # type: ignore[typeddict-item]  # moto's TypedDicts are total
                    mapRunFailedEventDetails=MapRunFailedEventDetails(error=error.to_name(), cause=cause)
                ),
            )
        )

    return [
        Patch(StateMap, "from_state_props", _from_state_props),
        Patch(DistributedIterationComponent, "_map_run", _map_run),
    ]
