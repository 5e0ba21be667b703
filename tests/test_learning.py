"""benchmarks/learning.py at the tiny scale: main chain, both ablations, report, resume."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from rl_support import tiny_model_dir  # noqa: F401  (fixture)

REPO = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("learning", REPO / "benchmarks" / "learning.py")
learning = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(learning)


def test_step_curves_read_trl_log_history() -> None:
    history = [{"step": 1, "reward": 2.0, "rewards/citation/mean": 0.25, "rewards/format/mean": 1.0},
               {"step": 2, "reward": 2.5, "rewards/citation/mean": 0.5, "rewards/format/mean": 1.0},
               {"step": 2, "train_runtime": 9.0}]
    steps, series = learning.step_series(history)
    assert steps == [1, 2] and series["citation"] == [0.25, 0.5] and series["weighted reward"] == [2.0, 2.5]


@pytest.mark.slow
def test_tiny_experiment_writes_its_report_and_resumes(tiny_model_dir: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--scale", "tiny", "--model", str(tiny_model_dir), "--work-dir", str(tmp_path / "work"),
            "--out-dir", str(tmp_path / "out")]
    assert learning.main(argv) == 0
    out = tmp_path / "out"
    assert {p.name for p in out.iterdir()} == {"report.md", "summary.json", "results.png", "all_stages.png",
                                               "grpo_curves.png"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n"] == 4 and set(summary["means"]) == {"base", "sft", "corrective", "grpo",
                                                           "grpo-no-citation", "plain-sft"}
    assert set(summary["comparisons"]["grpo - grpo-no-citation"]) >= {"citation", "format"}
    history = [json.loads(line) for line in (tmp_path / "work/grpo-no-citation/log_history.jsonl").read_text().splitlines()]
    assert any("rewards/citation/mean" in entry for entry in history)  # weight 0, still logged
    plain = (tmp_path / "work/plain-sft/train_rows.jsonl").read_text().splitlines()
    corrective = (tmp_path / "work/critique/corrective.jsonl").read_text().splitlines()
    assert len(plain) == len(corrective)
    assert "| grpo - sft |" in (out / "report.md").read_text()

    (tmp_path / "work/done/eval-plain-sft.json").unlink()  # as if killed during the last stage
    capsys.readouterr()
    assert learning.main(argv) == 0
    printed = capsys.readouterr().out
    assert printed.count("already done, skipped") == 13 and "eval-plain-sft: running" in printed
