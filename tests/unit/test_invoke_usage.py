"""`sluice invoke` usage errors: exit 2 with a one-line reason before any emulation starts, never a traceback."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from events import EVENTS_DIR
from sluice.cli import app

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["invoke", *args])
    return result.exit_code, result.stdout, result.stderr


def test_invoke_unknown_function_exits_2_and_lists_the_template_functions() -> None:
    code, out, err = invoke("Validate", "-e", str(EVENTS_DIR / "validate_offers.json"))
    assert code == 2
    assert out == ""
    assert "no function 'Validate' in template.sam.yaml" in err
    assert "ValidateFunction" in err and "OnExecutionFailedFunction" in err


def test_invoke_missing_event_file_exits_2(tmp_path: Path) -> None:
    code, out, err = invoke("ValidateFunction", "-e", str(tmp_path / "nope.json"))
    assert code == 2
    assert out == ""
    assert "nope.json: cannot read the event" in err


def test_invoke_event_that_is_not_json_exits_2(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text("{not json", encoding="utf-8")
    code, out, err = invoke("ValidateFunction", "-e", str(event))
    assert code == 2
    assert out == ""
    assert "event.json: not JSON" in err
    assert "Traceback" not in err


def test_invoke_object_without_file_exits_2(tmp_path: Path) -> None:
    code, _, err = invoke("ValidateFunction", "-o", f"s3://b/incoming/x.csv={tmp_path / 'missing.csv'}")
    assert code == 2
    assert "missing.csv: no such file" in err


def test_invoke_object_that_is_not_an_s3_uri_exits_2(tmp_path: Path) -> None:
    csv = tmp_path / "a.csv"
    csv.write_text("a\n", encoding="utf-8")
    code, _, err = invoke("ValidateFunction", "-o", f"bucket/key={csv}")
    assert code == 2
    assert "expected s3://BUCKET/KEY=FILE" in err


def test_invoke_env_vars_section_that_is_not_a_mapping_exits_2(tmp_path: Path) -> None:
    env = tmp_path / "env.json"
    env.write_text('{"ValidateFunction": ["RUNS_TABLE"]}', encoding="utf-8")
    code, _, err = invoke("ValidateFunction", "--env-vars", str(env))
    assert code == 2
    assert "ValidateFunction must map variable names to values" in err
