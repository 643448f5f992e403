"""`sluice iam report`: several runs' iam.json merged per role and grant; exit codes for denials and unused grants."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from sluice.cli import app
from sluice.local.iam.report import merge, not_emulated


def _grant(sid: str, action: str, calls: int, status: str) -> dict[str, Any]:
    return {"policy": "load", "sid": sid, "action": action, "calls": calls, "status": status}


def _run(grants: list[dict[str, Any]], denied: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "roles": [
            {
                "component": "LoadFunction",
                "role": "sluice-local-LoadFunctionRole-X",
                "grants": grants,
                "used": [{"action": "s3:GetObject", "resource": "arn:aws:s3:::lake/runs/m.json", "calls": 1}],
                "denied": denied or [],
            }
        ],
        "denials": [],
    }


def _write(folder: Path, report: dict[str, Any]) -> Path:
    folder.mkdir(parents=True)
    (folder / "iam.json").write_text(json.dumps(report), encoding="utf-8")
    return folder


def test_merge_a_grant_used_by_any_run_is_used_and_calls_add_up() -> None:
    first = _run(
        [
            _grant("PublishCurated", "s3:DeleteObject", 0, "unused"),
            _grant("Ledger", "dynamodb:GetItem", 2, "used"),
        ]
    )
    second = _run(
        [
            _grant("PublishCurated", "s3:DeleteObject", 3, "used"),
            _grant("Ledger", "dynamodb:GetItem", 0, "unused"),
        ]
    )

    merged = merge([first, second])

    (role,) = merged["roles"]
    assert [(g["sid"], g["calls"], g["status"]) for g in role["grants"]] == [
        ("PublishCurated", 3, "used"),
        ("Ledger", 2, "used"),
    ]
    assert role["used"] == [
        {"action": "s3:GetObject", "resource": "arn:aws:s3:::lake/runs/m.json", "calls": 2}
    ]


def test_iam_report_cli_lists_unused_grants_and_fails_on_them_only_when_asked(tmp_path: Path) -> None:
    folder = _write(tmp_path / "out", _run([_grant("PublishCurated", "s3:DeleteObject", 0, "unused")]))
    runner = CliRunner()

    shown = runner.invoke(app, ["iam", "report", str(folder)])
    strict = runner.invoke(app, ["iam", "report", str(folder), "--fail-on-unused"])

    assert shown.exit_code == 0, shown.output
    assert "✗ s3:DeleteObject" in shown.output
    assert "1 roles, 1 unused grants, 0 denied actions" in shown.output
    assert strict.exit_code == 1


def test_iam_report_cli_exits_1_for_a_denied_call_and_2_without_a_report(tmp_path: Path) -> None:
    denied = [{"action": "s3:PutObject", "resource": "arn:aws:s3:::lake/curated/x", "calls": 1}]
    folder = _write(tmp_path / "out", _run([], denied))
    runner = CliRunner()

    result = runner.invoke(app, ["iam", "report", str(folder)])
    missing = runner.invoke(app, ["iam", "report", str(tmp_path / "nothing")])

    assert result.exit_code == 1
    assert "DENIED s3:PutObject on arn:aws:s3:::lake/curated/x (1 calls)" in result.output
    assert missing.exit_code == 2
    assert "no IAM report there" in missing.output


def test_not_emulated_grants_name_who_makes_the_call_on_aws() -> None:
    assert not_emulated("ValidateFunction", "logs:PutLogEvents", "Logs") is not None
    assert not_emulated("TransformJob", "s3:GetObject", "ReadScript") is not None
    assert not_emulated("ValidateFunction", "s3:GetObject", "ReadUpload") is None
    assert not_emulated("LoadFunction", "glue:GetDatabase", "ReadCatalog") is None
