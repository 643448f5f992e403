"""The one loader of the shared sample events in events/ (also used by `sam local invoke -e`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EVENTS_DIR = Path(__file__).resolve().parents[1] / "events"


def load_event(name: str) -> dict[str, Any]:
    """`events/<name>.json` as a fresh dict (callers may change their copy)."""
    data = json.loads((EVENTS_DIR / f"{name}.json").read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise TypeError(f"events/{name}.json must hold a JSON object")
    return data
