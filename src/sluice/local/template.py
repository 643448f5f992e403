"""Reads template.sam.yaml, expands the SAM transform offline and resolves intrinsic functions."""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

ARTIFACT_BUCKET = "sluice-local-artifacts"

# The managed policies SAM's policy templates and defaults attach; the translator needs their ARNs and
# would otherwise ask IAM for them (offline it cannot).
_MANAGED_POLICIES = {
    name: f"arn:aws:iam::aws:policy/{path}{name}"
    for name, path in {
        "AWSLambdaBasicExecutionRole": "service-role/",
        "AWSXrayWriteOnlyAccess": "",
        "AWSXRayDaemonWriteAccess": "",
        "AWSLambdaRole": "service-role/",
        "AWSStepFunctionsFullAccess": "",
    }.items()
}


class _PolicyLoader:
    def load(self) -> dict[str, str]:
        return dict(_MANAGED_POLICIES)


@dataclass
class SamApp:
    """The SAM template and where its local code lives."""

    root: Path
    sam: dict[str, Any]
    code_dirs: dict[str, Path] = field(default_factory=dict)  # function logical id -> CodeUri folder
    handlers: dict[str, str] = field(default_factory=dict)  # function logical id -> module.function
    definition_files: dict[str, Path] = field(default_factory=dict)  # state machine logical id -> ASL file

    @classmethod
    def load(cls, template: Path) -> SamApp:
        sam = yaml_parse(template.read_text(encoding="utf-8"))
        app = cls(root=template.parent, sam=sam)
        globals_fn = sam.get("Globals", {}).get("Function", {})
        for name, res in sam["Resources"].items():
            props = res.get("Properties", {})
            if res["Type"] == "AWS::Serverless::Function":
                app.code_dirs[name] = (app.root / props["CodeUri"]).resolve()
                app.handlers[name] = props.get("Handler", globals_fn.get("Handler", "app.lambda_handler"))
            elif res["Type"] == "AWS::Serverless::StateMachine" and "DefinitionUri" in props:
                app.definition_files[name] = (app.root / props["DefinitionUri"]).resolve()
        return app

    def parameter_defaults(self) -> dict[str, str]:
        return {k: str(v.get("Default", "")) for k, v in self.sam.get("Parameters", {}).items()}

    def to_cloudformation(self, region: str) -> dict[str, Any]:
        """Expands the SAM transform as `sam validate` does: local code URIs become s3:// placeholders."""
        sam = copy.deepcopy(self.sam)
        for name, res in sam["Resources"].items():
            props = res.setdefault("Properties", {})
            if res["Type"] == "AWS::Serverless::Function":
                props["CodeUri"] = f"s3://{ARTIFACT_BUCKET}/{name}.zip"
            elif res["Type"] == "AWS::Serverless::LayerVersion":
                props["ContentUri"] = f"s3://{ARTIFACT_BUCKET}/{name}.zip"
            elif res["Type"] == "AWS::Serverless::StateMachine" and name in self.definition_files:
                props.pop("DefinitionUri")
                props["Definition"] = json.loads(self.definition_files[name].read_text(encoding="utf-8"))
        previous = os.environ.get("AWS_DEFAULT_REGION")
        os.environ["AWS_DEFAULT_REGION"] = region
        try:
            return dict(transform(sam, {}, _PolicyLoader()))
        finally:
            if previous is None:
                os.environ.pop("AWS_DEFAULT_REGION", None)
            else:
                os.environ["AWS_DEFAULT_REGION"] = previous


_SUB = re.compile(r"\$\{([^}!]+)\}")


class Resolver:
    """Resolves Ref, Fn::Sub, Fn::GetAtt, Fn::Join, Fn::If, Fn::Select for resources we provision ourselves."""

    def __init__(
        self,
        parameters: dict[str, str],
        pseudo: dict[str, str],
        refs: dict[str, str],
        get_att: Callable[[str, str], str],
        conditions: dict[str, bool],
    ) -> None:
        self.values = {**parameters, **pseudo, **refs}
        self.get_att = get_att
        self.conditions = conditions

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.resolve(v) for v in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self._ref(arg)
            if key == "Fn::GetAtt":
                logical, attr = arg.split(".", 1) if isinstance(arg, str) else arg
                return self.get_att(logical, attr)
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::Join":
                sep, items = arg
                return sep.join(str(v) for v in self.resolve(items))
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::If":
                cond, yes, no = arg
                return self.resolve(yes if self.conditions.get(cond, False) else no)
        return {k: self.resolve(v) for k, v in node.items()}

    def _ref(self, name: str) -> str:
        if name not in self.values:
            raise KeyError(f"template: Ref to {name!r} cannot be resolved locally")
        return self.values[name]

    def _sub(self, arg: Any) -> str:
        text, local = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

        def repl(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in local:
                return str(local[name])
            if "." in name:
                logical, attr = name.split(".", 1)
                return self.get_att(logical, attr)
            return str(self._ref(name))

        return _SUB.sub(repl, text)


def evaluate_conditions(cfn: dict[str, Any], parameters: dict[str, str]) -> dict[str, bool]:
    """Evaluates the template's Conditions (Fn::Equals, Fn::Not, Fn::And, Fn::Or, Condition)."""
    conditions = cfn.get("Conditions", {})
    done: dict[str, bool] = {}

    def value(node: Any) -> Any:
        if isinstance(node, dict) and len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return parameters.get(arg, "")
            if key == "Fn::Equals":
                return value(arg[0]) == value(arg[1])
            if key == "Fn::Not":
                return not value(arg[0])
            if key == "Fn::And":
                return all(value(a) for a in arg)
            if key == "Fn::Or":
                return any(value(a) for a in arg)
            if key == "Condition":
                return cond(arg)
        return node

    def cond(name: str) -> bool:
        if name not in done:
            done[name] = bool(value(conditions[name]))
        return done[name]

    for name in conditions:
        cond(name)
    return done
