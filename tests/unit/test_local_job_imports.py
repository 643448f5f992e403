"""The local runtime imports the Glue script as Glue does: sluice_lib and sluice_transform from the job's zip only."""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

import pytest

import sluice_lib.errors
from sluice.glue_library import build
from sluice.local.job_imports import JobImporter

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "glue" / "transform.py"


def _zip(tmp_path: Path, leave_out: str = "") -> Path:
    whole = zipfile.ZipFile(io.BytesIO(build(ROOT)))
    path = tmp_path / "sluice_transform.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name in whole.namelist():
            if name != leave_out:
                archive.writestr(name, whole.read(name))
    return path


def test_script_runs_on_the_zips_modules_and_leaves_the_checkouts_alone(tmp_path: Path):
    checkout_errors = sys.modules["sluice_lib.errors"]

    script = JobImporter([_zip(tmp_path)], "_test_job_whole").load_script(SCRIPT)

    assert script.run.__module__ == "_test_job_whole.sluice_transform.job"
    assert script.JobArgumentError.__name__ == "JobArgumentError"
    assert script.JobArgumentError is not sluice_lib.errors.JobArgumentError
    assert sys.modules["sluice_lib.errors"] is checkout_errors
    assert sys.modules["_test_job_whole.sluice_lib.curated"].__file__ == str(
        tmp_path / "sluice_transform.zip" / "sluice_lib" / "curated.py"
    )


def test_zip_without_a_module_the_job_imports_fails_naming_it(tmp_path: Path):
    library = _zip(tmp_path, leave_out="sluice_lib/curated.py")

    with pytest.raises(ModuleNotFoundError) as info:
        JobImporter([library], "_test_job_partial").load_script(SCRIPT)

    assert info.value.name == "sluice_lib.curated"
    assert str(info.value).startswith(
        "No module named 'sluice_lib.curated': the Transform job imports sluice_transform and sluice_lib from the "
        "zip its --extra-py-files argument names"
    )
    assert [m for m in sys.modules if m.startswith("_test_job_partial")] == []


def test_no_library_fails_on_the_first_module_of_the_checkout_although_the_checkout_has_it():
    assert "sluice_lib" in sys.modules  # importable here, yet not for a job whose zip does not ship it

    with pytest.raises(
        ModuleNotFoundError, match=r"^No module named 'sluice_lib': the Transform job imports"
    ):
        JobImporter([], "_test_job_none").load_script(SCRIPT)
