"""The transform's shared facts stay pure: the Glue job ships sluice_lib.curated and .errors in its
--extra-py-files zip, next to no pydantic, and they must not pull in Spark or boto3 either."""

from __future__ import annotations

import subprocess
import sys

BLOCKED = ("pyspark", "boto3", "botocore", "pydantic", "yaml", "duckdb", "pyarrow")

# Any import of a blocked package (or one of its modules) fails, as it would where the module is shipped.
IMPORT_WITH_BLOCKED = f"""
import importlib.abc, sys

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {BLOCKED!r}:
            raise ModuleNotFoundError(f"blocked: {{name}}", name=name)
        return None

sys.meta_path.insert(0, Block())
import sluice_lib.curated, sluice_lib.errors, sluice_lib.merge, sluice_lib.catalog_files
print(sorted(m for m in sys.modules if m.startswith("sluice_lib")))
"""


def test_shipped_modules_import_with_spark_boto3_pydantic_and_yaml_blocked():
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_WITH_BLOCKED], capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "['sluice_lib', 'sluice_lib.catalog_files', 'sluice_lib.curated', 'sluice_lib.errors', 'sluice_lib.merge']"
    )


def test_blocking_finder_rejects_a_blocked_import():
    """The check above would pass vacuously if the finder blocked nothing."""
    script = IMPORT_WITH_BLOCKED.replace(
        "import sluice_lib.curated, sluice_lib.errors, sluice_lib.merge, sluice_lib.catalog_files",
        "import sluice_lib.models",
    )

    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)

    assert done.returncode == 1
    assert "ModuleNotFoundError: blocked: " in done.stderr  # pydantic or boto3, whichever it imports first
