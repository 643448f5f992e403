"""One `sluice run` measured to the end of its execution: wall seconds and the process's peak RSS (VmHWM) when
its progress says the run ended, then the process is stopped. The export that follows is left out: it
measures the emulator reading the tables back, not the pipeline (before the moto correction
`dynamodb_scan_resume`, the export of 200,000 serving items took tens of minutes).

    python -m bench.run_peak bench/data/run.err -- .venv/bin/sluice run FILE --dataset offers --json [--param K=V]...
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

ENDED = re.compile(r"(SUCCEEDED|FAILED|REJECTED) in [0-9.]+s")


def main() -> None:
    args = sys.argv[1:]
    if len(args) < 3 or args[1] != "--":
        raise SystemExit("usage: python -m bench.run_peak PROGRESS_FILE -- COMMAND...")
    progress, command = Path(args[0]), args[2:]
    started = time.perf_counter()
    with progress.open("w", encoding="utf-8") as err:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err)
    try:
        while process.poll() is None:
            time.sleep(0.5)
            ended = [m.group(0) for m in ENDED.finditer(progress.read_text(encoding="utf-8"))]
            if ended:
                status = Path(f"/proc/{process.pid}/status").read_text(encoding="utf-8")
                peak_kb = int(re.search(r"VmHWM:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
                seconds = time.perf_counter() - started
                print(f"{ended[-1]}: wall {seconds:.1f} s, peak RSS {peak_kb / 1024:.0f} MB")
                return
        raise SystemExit(f"the command ended ({process.returncode}) before its run did: see {progress}")
    finally:
        if process.poll() is None:
            process.kill()


if __name__ == "__main__":
    main()
