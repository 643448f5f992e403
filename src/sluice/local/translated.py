"""Writes template.sam.yaml expanded to plain CloudFormation, for scanners that check the real resources.

`python -m sluice.local.translated OUT.json [TEMPLATE]`: the SAM transform expanded offline (as `sam validate`
does). SAM copies a resource's Metadata to the resource it generates of the same name; this also copies
the `checkov` entry to the resources SAM generates beside it (`PipelineStateMachineRole`, the upload
rule's role, ...), so a skip justified on the SAM resource covers what SAM made of it.

Every `Fn::If` is folded to its first branch (the condition holding: e.g. a data KMS key given): scanners
skip policy statements they cannot evaluate, and the first branches hold the most statements.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from sluice.local.stack import REGION
from sluice.local.template import SamApp


def translate(template: Path) -> dict[str, Any]:
    app = SamApp.load(template)
    cfn = app.to_cloudformation(REGION)
    declared = app.sam["Resources"]
    generated = [name for name in cfn["Resources"] if name not in declared]
    for name in generated:
        owners = [d for d in declared if name.startswith(d) and "checkov" in declared[d].get("Metadata", {})]
        if owners:
            owner = max(owners, key=len)
            metadata = cfn["Resources"][name].setdefault("Metadata", {})
            metadata.setdefault("checkov", declared[owner]["Metadata"]["checkov"])
    return dict(_fold_conditions(cfn))


_NO_VALUE = object()


def _fold_conditions(node: Any) -> Any:
    if isinstance(node, list):
        items = [_fold_conditions(v) for v in node]
        return [v for v in items if v is not _NO_VALUE]
    if not isinstance(node, dict):
        return node
    if len(node) == 1 and "Fn::If" in node:
        return _fold_conditions(node["Fn::If"][1])
    if node == {"Ref": "AWS::NoValue"}:
        return _NO_VALUE
    folded = {k: _fold_conditions(v) for k, v in node.items()}
    return {k: v for k, v in folded.items() if v is not _NO_VALUE}


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        raise SystemExit("usage: python -m sluice.local.translated OUT.json [TEMPLATE]")
    out = Path(args[0])
    template = Path(args[1]) if len(args) > 1 else Path("template.sam.yaml")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(translate(template), indent=1, default=str) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
