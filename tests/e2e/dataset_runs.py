"""Runs hand-written files of one seed dataset through the emulated stack, keeping the session open so tests
can also ask the emulated services (catalog, serving table) what the runs left."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds

from sluice.local.emulator import Emulator
from sluice.local.export import export_outputs
from sluice.local.runner import ExecutionResult, RunInput, Runner


@dataclass
class DatasetRun:
    emu: Emulator
    results: list[ExecutionResult]
    outputs: dict[str, str]
    progress: list[str]

    def execution(self, index: int = 0) -> dict[str, Any]:
        return self.results[index].to_json()

    def curated(self, table: str) -> list[dict[str, Any]]:
        """Rows of an exported curated (or gold) table; partition columns as pyarrow infers them (int, else text)."""
        folder = Path(self.outputs["curated"]) / table
        return list(ds.dataset(folder, format="parquet", partitioning="hive").to_table().to_pylist())

    def curated_files(self, table: str) -> list[str]:
        folder = Path(self.outputs["curated"]) / table
        return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.parquet"))

    def catalog_table(self, name: str) -> dict[str, Any]:
        glue = self.emu.client("glue")
        table: dict[str, Any] = glue.get_table(DatabaseName=self.emu.stack.glue_database, Name=name)["Table"]
        return table

    def served(self, pk: str, sk: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = (
            self.emu.client("dynamodb")
            .get_item(TableName=self.emu.stack.serving_table, Key={"pk": {"S": pk}, "sk": {"S": sk}})
            .get("Item")
        )
        return item


@contextmanager
def dataset_run(
    tmp: Path,
    files: list[tuple[str, str, str]],
    contracts_dir: Path | None = None,
    on_result: Callable[[Emulator, ExecutionResult], None] | None = None,
) -> Iterator[DatasetRun]:
    """Writes each (dataset, file name, text), uploads them in order in one emulator session, exports.

    `contracts_dir` replaces the repository's contracts/ for the session's functions (test-only datasets);
    `on_result` is called as each execution ends, while the emulation runs (to look at the state in between)."""
    inputs = []
    for i, (dataset, name, text) in enumerate(files):  # a folder each: a name may be uploaded twice
        path = tmp / "upload" / str(i) / dataset / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        inputs.append(RunInput(dataset, path))
    progress: list[str] = []
    with Emulator(time_scale=0.001, log_file=tmp / "out" / "logs" / "lambda.log") as emu:
        if contracts_dir is not None:
            emu.lambdas.contracts_dir = contracts_dir
        results = Runner(emu, progress.append, on_result=on_result).run(inputs)
        outputs = export_outputs(emu, tmp / "out")
        yield DatasetRun(emu, results, outputs, progress)
