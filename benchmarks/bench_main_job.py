"""Wall time, CPU time and peak memory of the main job (``pleias-rl quickstart``).

    python benchmarks/bench_main_job.py [--out-dir DIR] [quickstart options...]

Runs the quickstart in a fresh directory as a child process and prints its wall time, CPU
time (user + system: the cost on a shared machine; divided by 2 it estimates the wall time on
2 idle cores), peak resident memory, the ratio to the 20-minute budget, and the disk the run
keeps. A matrix-multiply throughput probe before and after gives the machine's speed during
the run, so numbers from a loaded machine can be read against an idle one.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pleias_rl.pipeline import disk_megabytes

BUDGET_SECONDS = 20 * 60
CORES = 2


def matmul_gflops(seconds: float = 2.0) -> float:
    """Float32 GFLOP/s of 512x512 matrix products on this machine right now.

    >>> matmul_gflops(0.1) > 0
    True
    """
    import torch

    a, b = torch.randn(512, 512), torch.randn(512, 512)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
    return count * 2 * 512 ** 3 / (time.perf_counter() - start) / 1e9


def main(argv: list[str] | None = None) -> int:
    """Run the main job once and print the figures.

    >>> main(["--out-dir", "runs/bench-quickstart"])  # doctest: +SKIP
    0
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out-dir", type=Path, default=None, help="default: a fresh temp dir")
    args, quickstart_args = parser.parse_known_args(argv)
    out = args.out_dir or Path(tempfile.mkdtemp(prefix="bench_main_job_")) / "quickstart"
    if out.exists():
        shutil.rmtree(out)  # a fresh run: nothing skipped
    before = matmul_gflops()
    start = time.perf_counter()
    command = [sys.executable, "-m", "pleias_rl.cli", "quickstart", "--out-dir", str(out), *quickstart_args]
    result = subprocess.run(command)
    wall = time.perf_counter() - start
    after = matmul_gflops()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime
    print(f"exit code            {result.returncode}")
    print(f"wall time            {wall:8.0f} s   ({wall / BUDGET_SECONDS:.2f} x the 20-minute budget)")
    print(f"CPU time             {cpu:8.0f} s   (/ {CORES} cores = {cpu / CORES:.0f} s on idle cores, "
          f"{cpu / CORES / BUDGET_SECONDS:.2f} x budget)")
    print(f"peak memory (RSS)    {usage.ru_maxrss / 1024:8.0f} MB")
    print(f"matmul probe         {before:8.1f} GFLOP/s before, {after:.1f} after "
          f"(machine load during the run)")
    print(f"disk kept            {disk_megabytes(out):8.0f} MB")
    print(f"results              {out / 'results.md'}")
    return result.returncode


if __name__ == "__main__":
    raise SystemExit(main())
