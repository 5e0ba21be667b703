"""benchmarks/gpu/grpo_gpu.py runs end to end on the CPU at the tiny scale (untested on a GPU)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from rl_support import tiny_model_dir  # noqa: F401  (fixture)

REPO = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("grpo_gpu", REPO / "benchmarks" / "gpu" / "grpo_gpu.py")
grpo_gpu = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(grpo_gpu)


@pytest.mark.slow
def test_tiny_run_on_cpu_logs_steps_and_intervals(tiny_model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "gpu"
    assert grpo_gpu.main(["--scale", "tiny", "--model", str(tiny_model_dir), "--out-dir", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["grpo"]["device"] == "cpu" and results["grpo"]["grpo_steps"] == 2
    assert 0.0 < results["grpo"]["reward_share"] < 1.0
    assert results["stages"]["grpo"]["change"]["citation"]["n"] == 3
    steps = [json.loads(line) for line in (out / "grpo" / "steps.jsonl").read_text().splitlines()]
    assert [row["step"] for row in steps] == [1, 2] and all("reward" in row for row in steps)
    assert not list(out.rglob("checkpoint-*"))
