"""Where sluice finds its checkout: the template, contracts, functions and Glue script it runs. Light (no moto)
so that the commands which only read the checkout (`contracts check`, `cost`) start quickly."""

from __future__ import annotations

import os
from pathlib import Path


def repo_root() -> Path:
    """The folder holding template.sam.yaml (the source checkout sluice runs from); SLUICE_ROOT overrides."""
    env = os.environ.get("SLUICE_ROOT")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "template.sam.yaml").is_file():
            return parent
    return Path.cwd()
