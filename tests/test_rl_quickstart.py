"""The main-job pipeline end to end on the tiny model: stages, table, resume by skipping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pleias_rl.rl.quickstart import EVAL_STAGES, Plan, parse_args, results_table, run
from rl_support import tiny_model_dir  # noqa: F401  (fixture)

REWARDS = ("citation", "format", "language", "answer", "source_f1", "refusal")


def test_results_table_marks_rewards_that_never_apply() -> None:
    table = results_table({"base": {"format": 0.125, "answer": None}, "grpo": {"format": 1.0, "answer": 0.5}})
    assert table.splitlines()[2:] == ["| format | 0.125 | 1.000 |", "| answer | n/a | 0.500 |"]


def test_command_line_options() -> None:
    plan = parse_args(["--out-dir", "x", "--model", "m", "--sft-rows", "3", "--max-new-tokens", "9"])
    assert (plan.out_dir, plan.model, plan.sft_rows, plan.max_new_tokens) == (Path("x"), "m", 3, 9)


@pytest.mark.slow
def test_pipeline_on_the_tiny_model_then_resume(tiny_model_dir: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    plan = Plan(tmp_path / "qs", model=str(tiny_model_dir), sft_rows=4, rl_rows=2, heldout_rows=2,
                grpo_steps=1, max_new_tokens=16, batch_size=2)
    report = run(plan)

    results = json.loads((plan.out_dir / "results.json").read_text())
    assert list(results) == list(EVAL_STAGES)
    for stage in EVAL_STAGES:
        assert set(REWARDS) <= set(results[stage])
        rows = (plan.out_dir / "eval" / stage / "scores.jsonl").read_text().splitlines()
        assert len(rows) == 2 and "rewards" in json.loads(rows[0])
        assert (plan.out_dir / "eval" / stage / "report.md").exists()
    assert "| format |" in report.read_text()
    assert "base" in (plan.out_dir / "eval" / "compare" / "report.md").read_text()
    assert (plan.out_dir / "grpo" / "model.safetensors").exists()
    out = capsys.readouterr().out
    assert "results: " in out and str(report.resolve()) in out

    (plan.out_dir / "done" / "eval-grpo").unlink()  # as if killed during the last stage
    run(plan)
    out = capsys.readouterr().out
    assert "sft: already done, skipped" in out and "grpo: already done, skipped" in out
    assert "eval-grpo: running" in out and "eval-grpo: finished" in out
