"""Data builder throughput and peak memory on large synthetic files: memory stays flat.

Generates HotpotQA-layout records (JSON Lines and a JSON array) in a temporary directory,
builds each with the default exercises and budget in a fresh process, and prints rows/s and
the peak resident memory of that process. The baseline is the same build on a file 10x
smaller, measured in the same run: a streaming builder shows a memory ratio near 1.0 while
the row count grows 10x. For contrast, ``json.load`` of the large array is measured too.

    python benchmarks/bench_data.py                 # 20k vs 200k rows
    python benchmarks/bench_data.py --large 1000000 # a million rows (a few minutes)
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

WORDS = ("village river church road station county north built century famous old new "
         "town hall bridge castle family born died played album band film director").split()


def synthetic_record(index: int, rng: random.Random) -> dict:
    """One HotpotQA-layout record with 10 paragraphs of 3 sentences."""
    def sentence() -> str:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 16))).capitalize() + "."

    titles = [f"Title {index}-{k}" for k in range(10)]
    return {"_id": f"syn{index:08d}", "question": f"Which {rng.choice(WORDS)} is question {index}?",
            "answer": rng.choice(WORDS), "type": "bridge", "level": "easy",
            "supporting_facts": [[titles[2], 0], [titles[7], 1]],
            "context": [[t, [sentence(), " " + sentence(), " " + sentence()]] for t in titles]}


def write_inputs(directory: Path, rows: int) -> tuple[Path, Path]:
    """Write ``rows`` records as JSON Lines and as a JSON array; return both paths."""
    rng = random.Random(0)
    lines, array = directory / f"in{rows}.jsonl", directory / f"in{rows}.json"
    with open(lines, "w") as out_lines, open(array, "w") as out_array:
        out_array.write("[\n")
        for index in range(rows):
            record = json.dumps(synthetic_record(index, rng))
            out_lines.write(record + "\n")
            out_array.write(("," if index else "") + record + "\n")
        out_array.write("]\n")
    return lines, array


CHILD = textwrap.dedent("""
    import json, resource, sys, time
    from pleias_rl.data.build import BuildOptions, BuildReport, build_rows, file_records, write_rows
    mode, source, target = sys.argv[1:4]
    start = time.perf_counter()
    if mode == "json.load":
        rows = len(json.load(open(source)))
    else:
        report = BuildReport()
        rows = write_rows(build_rows(file_records([source]), BuildOptions(), report), target)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_mb": peak_mb}))
""")


def measure(mode: str, source: Path, target: Path) -> dict:
    """Run one build (or ``json.load``) in a fresh Python process; return its figures."""
    done = subprocess.run([sys.executable, "-c", CHILD, mode, str(source), str(target)],
                          capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parent.parent)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a table with the large/small ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=20_000)
    parser.add_argument("--large", type=int, default=200_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        results = {}
        for rows in (args.small, args.large):
            lines, array = write_inputs(directory, rows)
            size_mb = lines.stat().st_size / 2**20
            results[("jsonl", rows)] = measure("build", lines, directory / "out.jsonl")
            results[("json array", rows)] = measure("build", array, directory / "out.jsonl")
            print(f"generated {rows} records ({size_mb:.0f} MB of JSON Lines)")
        results[("json.load (baseline)", args.large)] = measure("json.load", array, directory / "-")
    print(f"\n{'input':<22}{'rows':>9}{'rows/s':>10}{'peak MB':>10}")
    for (kind, rows), figures in results.items():
        print(f"{kind:<22}{rows:>9}{figures['rows'] / figures['seconds']:>10.0f}{figures['peak_mb']:>10.1f}")
    for kind in ("jsonl", "json array"):
        small, large = results[(kind, args.small)], results[(kind, args.large)]
        print(f"{kind}: {args.large // args.small}x the rows -> peak memory x"
              f"{large['peak_mb'] / small['peak_mb']:.2f}, speed x"
              f"{(large['rows'] / large['seconds']) / (small['rows'] / small['seconds']):.2f}")
    loaded = results[("json.load (baseline)", args.large)]["peak_mb"]
    print(f"json.load of the large array alone: peak x{loaded / results[('json array', args.large)]['peak_mb']:.1f}"
          " the streaming build's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
