"""The main-job pipeline (pleias_rl.pipeline) end to end on the tiny model: stages, results with
intervals, the critic round's tally, reruns of exactly the changed stages."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from pleias_rl.pipeline import STAGES, Plan, parse_args, run, split_rows
from rl_support import tiny_model_dir  # noqa: F401  (fixture)

REWARDS = ("citation", "format", "language", "answer", "source_f1", "refusal")


def test_command_line_options() -> None:
    plan = parse_args(["--out-dir", "x", "--model", "m", "--sft-rows", "3", "--max-new-tokens", "9",
                       "--grpo-learning-rate", "2e-5"])
    assert (plan.out_dir, plan.model, plan.sft_rows, plan.max_new_tokens) == (Path("x"), "m", 3, 9)
    assert plan.grpo_learning_rate == 2e-5 and plan.corrective_gold


def test_training_and_heldout_rows_never_share_a_source_record() -> None:
    train, heldout = split_rows(Plan(Path("unused")))
    records = {(row["meta"]["dataset"], row["meta"]["id"]) for row in train}
    held = {(row["meta"]["dataset"], row["meta"]["id"]) for row in heldout}
    assert len(heldout) >= 60 and not records & held
    assert {dataset for dataset, _ in held} == {"hotpotqa", "musique"}
    assert all(3 <= len(row["sources"]) <= 10 for row in heldout)


@pytest.mark.slow
def test_pipeline_on_the_tiny_model_then_reruns(tiny_model_dir: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    plan = Plan(tmp_path / "qs", model=str(tiny_model_dir), sft_rows=4, critic_rows=3, rl_rows=2,
                heldout_rows=3, grpo_steps=1, grpo_generations=2, grpo_prompts_per_step=1,
                grpo_completion_tokens=16, max_new_tokens=16, batch_size=3)
    report = run(plan)

    results = json.loads((plan.out_dir / "results.json").read_text())
    assert list(results["stages"]) == list(STAGES) and results["n"] == 3
    assert results["stages"]["base"]["change"] is None
    for stage in STAGES:
        assert set(REWARDS) <= set(results["stages"][stage]["means"])
        interval = results["stages"][stage]["means"]["format"]
        assert interval["low"] <= interval["mean"] <= interval["high"] and interval["n"] == 3
        rows = [json.loads(line) for line in (plan.out_dir / "eval" / stage / "scores.jsonl").read_text().splitlines()]
        assert len(rows) == 3 and all(row["id"] and set(REWARDS) <= set(row["rewards"]) for row in rows)
    assert set(results["stages"]["grpo"]["change"]) >= {"citation", "format"}
    assert results["last_against_sft"]["citation"]["n"] == 3
    tally = results["critique"]
    assert tally["examples"] == 3 and tally["minimal"] + tally["gold"] + tally["unrepaired"] == tally["failing"]
    assert sum(tally["failures_by_kind"].values()) >= tally["failing"]
    pairs = (plan.out_dir / "critique" / "preferences.jsonl").read_text().splitlines()
    assert {json.loads(pair)["repair"] for pair in pairs} <= {"minimal", "gold"}
    text = report.read_text()
    assert "results.png" in text and "- grpo: " in text and "Critic round" in text and "Overall, grpo against sft" in text
    assert (plan.out_dir / "results.png").stat().st_size > 1000
    assert (plan.out_dir / "grpo" / "model.safetensors").exists()
    assert not list(plan.out_dir.rglob("checkpoint-*"))

    run(plan)  # nothing changed: every stage skipped
    out = capsys.readouterr().out
    assert out.count("already done, skipped") == 10

    run(replace(plan, grpo_learning_rate=2e-5))  # only GRPO and its evaluation rerun
    out = capsys.readouterr().out
    assert "grpo: parameters changed (grpo_learning_rate: 1e-05 -> 2e-05), rerunning" in out
    assert "eval-grpo: an earlier stage changed, rerunning" in out
    assert out.count("already done, skipped") == 8
