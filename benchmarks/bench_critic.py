"""Critic loop throughput: the rule critic (examples/s on one core) and the HTTP critic.

Part 1 — rule critic. Inputs are honest and corrupted completions of the shipped HotpotQA
sample (:func:`pleias_rl.data.corruptions.citation_cases`), cycled to ``--examples`` rows. Measured in this
process pinned to one core:

- baseline: scoring every initial completion once with the six reported rewards (the floor:
  any loop must at least score its input);
- the loop in memory (:class:`pleias_rl.critics.loop.CritiqueLoop`, rules only, repairs re-verified);
- ``pleias-rl critique`` end to end in a subprocess pinned to the same core, with
  ``--sync example`` (fsync per example) and ``--sync batch``.

Target: the in-memory loop >= 200 examples/s on one core.

Part 2 — HTTP critic. A real ``transformers serve`` of the tiny local model (tests/llm_server.py)
is judged by :class:`pleias_rl.critics.llm.LLMCritic` with 1, 2, 4, 8 requests in flight; printed:
requests/s, mean latency, and the speed-up over one request in flight.

    python benchmarks/bench_critic.py                     # both parts
    python benchmarks/bench_critic.py --skip-http --examples 4000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

CATEGORIES = ("honest_trivial", "honest_full", "fabricated", "wrong_source", "changed_digit", "paraphrase",
              "tiny_fragments", "query_copy", "source_dump", "duplicate", "out_of_order", "padded_fabricated")


def sample_rows() -> list[dict]:
    """The shipped HotpotQA sample as RAG rows."""
    from pleias_rl.data.readers import read_hotpotqa

    records = json.loads((REPO / "data" / "samples" / "raw" / "hotpotqa_train_sample100.json").read_text())
    return list(read_hotpotqa(records))


def workload(count: int) -> list[dict]:
    """``count`` validated rows with completions, cycling over honest and corrupted cases."""
    from pleias_rl.data.corruptions import citation_cases
    from pleias_rl.data.schema import validate_row

    cases = citation_cases(sample_rows())
    pool = [(category, completion, row) for category in CATEGORIES for completion, row in cases[category]]
    return [validate_row({**row, "id": f"{row['id']}-{category}-{n}", "completion": completion})
            for n, (category, completion, row) in ((n, pool[n % len(pool)]) for n in range(count))]


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:8.1f} ex/s ({seconds:6.2f} s for {count})"


def bench_rules(count: int, batch_size: int) -> None:
    from pleias_rl.critics.loop import REPORTED_REWARDS, CritiqueLoop, LoopSettings
    from pleias_rl.critics.rules import RuleCritic
    from pleias_rl.rewards.registry import get_reward

    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    rows = workload(count)
    rewards = [get_reward(name) for name in REPORTED_REWARDS]
    for reward in rewards:  # warm-up: language model load, caches
        reward.explain(rows[0]["completion"], rows[0])
    started = time.perf_counter()
    for row in rows:
        for reward in rewards:
            reward.explain(row["completion"], row)
    baseline = time.perf_counter() - started

    loop = CritiqueLoop([RuleCritic()], settings=LoopSettings(batch_size=batch_size))
    numbered = list(enumerate(rows, start=1))
    started = time.perf_counter()
    accepted = 0
    for start in range(0, count, batch_size):
        accepted += sum(r.accepted for r in loop.run_batch(numbered[start:start + batch_size]))
    in_memory = time.perf_counter() - started

    print(f"rule critic, one core, {count} examples ({accepted} accepted)")
    print(f"  baseline: 6 rewards once per example  {rate(count, baseline)}")
    print(f"  critic loop in memory                 {rate(count, in_memory)}   "
          f"ratio to baseline {baseline / in_memory:.2f}   target >= 200 ex/s: "
          f"{'met' if count / in_memory >= 200 else 'NOT met'}")
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "input.jsonl"
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
        for sync in ("example", "batch"):
            out = Path(directory) / f"out-{sync}"
            command = ["taskset", "-c", str(min(os.sched_getaffinity(0))), sys.executable, "-m", "pleias_rl.cli",
                       "critique", str(path), "--out-dir", str(out), "--no-progress", "--sync", sync,
                       "--batch-size", str(batch_size)]
            started = time.perf_counter()
            subprocess.run(command, check=True, cwd=REPO, stderr=subprocess.DEVNULL)
            elapsed = time.perf_counter() - started
            print(f"  pleias-rl critique --sync {sync:<8}  {rate(count, elapsed)}   "
                  f"(process start, imports and report included)")


def bench_http(examples: int, max_tokens: int, serve_args: list[str]) -> None:
    from pleias_rl.critics.backends import OpenAIBackend
    from pleias_rl.critics.llm import LLMCritic
    from pleias_rl.data.targets import oracle_completion
    from llm_server import serve_tiny_model

    rows = sample_rows()[:examples]
    pairs = [(row, oracle_completion(row)) for row in rows]
    with serve_tiny_model(extra_args=serve_args) as served:
        print(f"HTTP critic: transformers serve {' '.join(serve_args)} (tiny Llama, CPU), {examples} judgements, "
              f"max_tokens {max_tokens}")
        OpenAIBackend(served.base_url).complete("warm up", max_tokens=2)
        single = None
        for in_flight in (1, 2, 4, 8):
            backend = OpenAIBackend(served.base_url, concurrency=in_flight, timeout=120)
            critic = LLMCritic(backend, max_tokens=max_tokens)
            started = time.perf_counter()
            verdicts = critic.critique_many(pairs)
            elapsed = time.perf_counter() - started
            single = single or elapsed
            errors = sum(v.kinds == ["critic_error"] for v in verdicts)
            print(f"  in flight {in_flight}: {examples / elapsed:6.2f} req/s, mean latency "
                  f"{backend.stats.seconds / max(1, backend.stats.requests):5.2f} s, speed-up x{single / elapsed:4.2f}"
                  f" ({errors} malformed answers recorded as critic_error)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=2000, help="rule-critic examples")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--http-examples", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=32, help="tokens per critic answer")
    parser.add_argument("--continuous-batching", action="store_true",
                        help="also measure transformers serve --continuous-batching")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--skip-rules", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if not args.skip_rules:
        bench_rules(args.examples, args.batch_size)
    if not args.skip_http:
        bench_http(args.http_examples, args.max_tokens, [])
        if args.continuous_batching:
            bench_http(args.http_examples, args.max_tokens, ["--continuous-batching"])


if __name__ == "__main__":
    main()
