"""``pleias-rl score --workers N``: throughput against ``--workers 1``, identical output.

Writes a JSON Lines file of ``--rows`` rows (the shipped SFT sample, 153 real rows with their
oracle completions, repeated; every third completion cut at a random point so the rewards
also see broken outputs), then runs ``pleias-rl score`` on it in a fresh process for each
worker count, ``--repeats`` times, and prints the best and median wall time, rows/s, the
speed-up against one worker measured in the same run, and whether every output file is byte
for byte the one of ``--workers 1``. The target (issue 15): ``--workers 2`` >= 1.7x
``--workers 1`` on 100k rows on 2 cores. The CPU count and the load average are printed:
on a shared machine other processes take cores, and the speed-up can only be read with them.

    python benchmarks/bench_score_workers.py                      # 100k rows, workers 1 and 2
    python benchmarks/bench_score_workers.py --rows 20000 --workers 1,2,4 --repeats 3
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "samples" / "sft.jsonl"


def write_input(path: Path, rows: int, seed: int = 0) -> int:
    """Write ``rows`` scored-ready rows to ``path``; returns its size in bytes.

    >>> import tempfile; path = Path(tempfile.mkdtemp()) / "in.jsonl"
    >>> write_input(path, 5) > 0, len(path.read_text().splitlines())
    (True, 5)
    """
    rng = random.Random(seed)
    sample = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]
    with open(path, "w", encoding="utf-8") as out:
        for index in range(rows):
            row = dict(sample[index % len(sample)], id=f"bench-{index}")
            if index % 3 == 2:
                row["completion"] = row["completion"][:rng.randrange(len(row["completion"]))]
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path.stat().st_size


def run_score(source: Path, output: Path, workers: int) -> float:
    """Wall seconds of one ``pleias-rl score`` process (its exit code must be 0)."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pleias_rl.cli", "score", str(source), "-o", str(output),
                    "--workers", str(workers)], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def spin(steps: int) -> int:
    """A pure-Python CPU loop (the ceiling's unit of work).

    >>> spin(4)
    14
    """
    return sum(i * i for i in range(steps))


def machine_ceiling(processes: int, steps: int = 5_000_000) -> float:
    """How much faster ``processes`` processes run ``processes`` units of :func:`spin` than
    one process runs them, now: the best speed-up this machine allows at this moment."""
    started = time.perf_counter()
    for _ in range(processes):
        spin(steps)
    serial = time.perf_counter() - started
    with multiprocessing.Pool(processes) as pool:
        started = time.perf_counter()
        pool.map(spin, [steps] * processes)
        parallel = time.perf_counter() - started
    return serial / parallel


def ceiling(measured: list[float]) -> str:
    """The median ceiling as a table cell (``-`` for one worker: nothing to compare).

    >>> ceiling([1.5, 1.9, 1.7]), ceiling([])
    ('1.70x', '-')
    """
    return f"{statistics.median(measured):.2f}x" if measured else "-"


def digest(path: Path) -> str:
    """SHA-256 of a file.

    >>> import tempfile; path = Path(tempfile.mkdtemp()) / "x"; _ = path.write_bytes(b"")
    >>> digest(path)[:12]
    'e3b0c44298fc'
    """
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts (1 first)")
    parser.add_argument("--repeats", type=int, default=2, help="runs per worker count")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.workers.split(",")]
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "in.jsonl"
        size = write_input(source, args.rows)
        print(f"{args.rows} rows ({size / 1e6:.1f} MB), {os.cpu_count()} CPUs, "
              f"load average before {os.getloadavg()[0]:.2f}")
        times: dict[int, list[float]] = {n: [] for n in counts}
        ceilings: dict[int, list[float]] = {n: [] for n in counts}
        digests: dict[int, set[str]] = {n: set() for n in counts}
        for _ in range(args.repeats):
            for workers in counts:  # interleaved, so a burst of load hits every count alike
                output = Path(scratch) / f"out{workers}.jsonl"
                times[workers].append(run_score(source, output, workers))
                digests[workers].add(digest(output))
                if workers > 1:
                    ceilings[workers].append(machine_ceiling(workers))
        print(f"load average after {os.getloadavg()[0]:.2f}; n = {args.repeats} runs per row")
        print(f"{'workers':>7} {'best s':>8} {'median s':>9} {'rows/s':>8} {'speed-up':>9} "
              f"{'ceiling':>8}  identical")
        base = min(times[counts[0]])
        for workers in counts:
            best = min(times[workers])
            print(f"{workers:>7} {best:>8.2f} {statistics.median(times[workers]):>9.2f} "
                  f"{args.rows / best:>8.0f} {base / best:>8.2f}x {ceiling(ceilings[workers]):>8}  "
                  f"{digests[workers] == digests[counts[0]]}")


if __name__ == "__main__":
    main()
