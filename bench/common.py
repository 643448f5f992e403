"""What every benchmark needs: the machine's description, measured subprocesses, medians, Markdown."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
RESULTS = ROOT / "bench" / "results"
QUICK_RESULTS = DATA / "results-quick"
PYTHON = sys.executable
# Pins a worker to one CPU (the "one core" of a Lambda with 1769 MB); absent taskset, runs unpinned.
ONE_CORE = ["taskset", "-c", "0"] if shutil.which("taskset") else []


@dataclass(frozen=True)
class Options:
    """What bench.run passes to every benchmark."""

    quick: bool = False
    runs: int = 3
    out: Path = RESULTS
    command: str = ""
    e2e_rows: tuple[int, ...] = ()  # sizes the e2e benchmark runs once more, on demand (10,000,000)


def _first(path: str, prefix: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def _java_version() -> str:
    try:
        done = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "not found"
    first = (done.stderr or done.stdout).splitlines()
    return first[0].strip() if first else "?"


def _version(module: str) -> str:
    try:
        imported = __import__(module)
    except ImportError:
        return "not installed"
    return str(getattr(imported, "__version__", "?"))


def machine() -> dict[str, str]:
    """Cores, RAM, CPU model, OS and the versions the figures depend on."""
    mem_kb = _first("/proc/meminfo", "MemTotal").split()[0]
    ram = f"{int(mem_kb) / 1024 / 1024:.1f} GiB" if mem_kb.isdigit() else "?"
    return {
        "cores": str(os.cpu_count()),
        "RAM": ram,
        "CPU": _first("/proc/cpuinfo", "model name"),
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "Java": _java_version(),
        "Spark (pyspark)": _version("pyspark"),
        "pyarrow": _version("pyarrow"),
        "pandas": _version("pandas"),
        "duckdb": _version("duckdb"),
        "moto": _version("moto"),
    }


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


# --- measured subprocesses ---------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            found += [int(c) for c in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()]
        except OSError:
            continue
    return found


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def tree_rss_kb(root: int) -> int:
    """Summed resident memory of a process and all its descendants (a JVM under Python included)."""
    return sum(_rss_kb(pid) for pid in _tree(root))


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU seconds so far of a process and its live descendants (a JVM under Python too)."""
    return sum(_cpu_ticks(pid) for pid in _tree(root)) / os.sysconf("SC_CLK_TCK")


def _cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    except (OSError, IndexError, ValueError):
        return 0


def _tree(root: int) -> Iterator[int]:
    """A process and its live descendants, each once."""
    todo, seen = [root], set()
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.add(pid)
            yield pid
            todo += _children(pid)


@dataclass
class Measured:
    """One worker run: what it printed (a JSON object), its wall time and its memory peaks."""

    result: dict[str, Any]
    wall: float
    peak_rss_mb: float  # the worker process itself, from wait4's ru_maxrss (exact)
    peak_tree_mb: float  # worker plus descendants, sampled from /proc every `sample` seconds
    cpu_seconds: float
    command: list[str] = field(default_factory=list)


def run_worker(
    args: Sequence[str],
    *,
    pin: bool = False,
    env: dict[str, str] | None = None,
    sample: float = 0.05,
    timeout: float | None = None,
    python: str = PYTHON,
    cwd: Path = ROOT,
) -> Measured:
    """Runs `python -m <args>` in a fresh process; its last stdout line must be a JSON object.

    `python` and `cwd` run the worker of another checkout (bench.runtimes_bench's baseline). Past `timeout`
    seconds the worker and its children are killed and RuntimeError is raised."""
    command = [*(ONE_CORE if pin else []), python, "-m", *args]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=err, env={**os.environ, **(env or {})})
        peak_tree = 0
        stop = threading.Event()

        timed_out = False

        def sampler() -> None:
            nonlocal peak_tree, timed_out
            while not stop.is_set():
                peak_tree = max(peak_tree, tree_rss_kb(proc.pid))
                if timeout is not None and time.perf_counter() - started > timeout:
                    timed_out = True
                    for pid in [*_children(proc.pid), proc.pid]:
                        with contextlib.suppress(OSError):
                            os.kill(pid, signal.SIGKILL)
                    return
                stop.wait(sample)

        thread = threading.Thread(target=sampler, daemon=True)
        thread.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        stop.set()
        thread.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if timed_out:
        raise RuntimeError(f"{shlex.join(command)} killed after {timeout:.0f}s")
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(command)} exited {proc.returncode}:\n{stderr[-4000:]}")
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(
            f"{shlex.join(command)} printed no JSON result:\n{stdout[-2000:]}\n{stderr[-2000:]}"
        )
    peak_rss = usage.ru_maxrss / 1024
    return Measured(
        result=json.loads(lines[-1]),
        wall=wall,
        peak_rss_mb=peak_rss,
        peak_tree_mb=max(peak_tree / 1024, peak_rss),
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        command=command,
    )


def emit(result: dict[str, Any]) -> None:
    """A worker's answer: one JSON line on stdout (bench.common.run_worker reads the last one)."""
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


# --- figures -----------------------------------------------------------------------------------------


def median(values: Iterable[float]) -> float:
    return float(statistics.median(list(values)))


def spread(values: Sequence[float]) -> str:
    """min-max of the runs, so a reader sees the noise behind a median."""
    return f"{min(values):.2f}-{max(values):.2f}"


def table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def machine_section(loads: Sequence[str]) -> str:
    info = machine()
    rows = [(k, v) for k, v in info.items()]
    rows.append(("load average (1/5/15 min) before, after", " → ".join(loads)))
    rows.append(("date (UTC)", datetime.now(UTC).strftime("%Y-%m-%d %H:%M")))
    return "## Machine\n\n" + table(("what", "value"), rows)


def write_result(opts: Options, name: str, title: str, body: str, loads: Sequence[str]) -> Path:
    """Writes <out>/<name>.md: title, the exact command, the machine, then the benchmark's own body."""
    opts.out.mkdir(parents=True, exist_ok=True)
    path = opts.out / f"{name}.md"
    text = (
        f"# {title}\n\n"
        f"Produced by `{opts.command}`"
        + (" (`--quick`: smoke-test sizes, not the recorded figures)" if opts.quick else "")
        + f"; `make bench` reruns every benchmark.\n\n{machine_section(loads)}\n\n{body.strip()}\n"
    )
    path.write_text(text, encoding="utf-8")
    return path


def mb(path: Path) -> float:
    return path.stat().st_size / 1e6
