"""benchmarks/reward_snapshot.py: a saved snapshot compares equal to itself, a moved case is listed."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("reward_snapshot", REPO / "benchmarks" / "reward_snapshot.py")
reward_snapshot = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(reward_snapshot)


def test_cases_cover_samples_generated_and_broken_completions():
    cases = reward_snapshot.all_cases()
    ids = [case_id for case_id, _, _ in cases]
    assert len(ids) == len(set(ids)) > 5000
    for marker in ("sft:", "rl:", "heldout:", "hotpotqa:fabricated:", "musique:honest_elided:",
                   ":paraphrase_full", ":cut_30", ":french"):
        assert any(marker in case_id for case_id in ids), marker


def test_a_saved_snapshot_compares_equal_and_a_moved_score_is_reported(tmp_path, capsys):
    cases = reward_snapshot.all_cases()[:24]
    saved = json.loads(json.dumps(reward_snapshot.snapshot(cases)))
    assert reward_snapshot.differences(saved, reward_snapshot._plain(reward_snapshot.snapshot(cases))) == []
    assert saved["sft:0"]["explain"]["citation"][0] == 1.0 and saved["sft:0"]["call"]["citation"] == 1.0
    moved = json.loads(json.dumps(saved))
    moved["sft:0"]["explain"]["citation"] = [0.5, {**saved["sft:0"]["explain"]["citation"][1], "n_refs": 9}]
    lines = reward_snapshot.differences(saved, moved)
    assert len(lines) == 1 and lines[0].startswith("sft:0 explain citation: score 1.0 -> 0.5; n_refs:")


def test_save_refuses_to_overwrite(tmp_path, capsys):
    target = tmp_path / "snapshot.json"
    target.write_text("{}")
    with pytest.raises(SystemExit) as exit:
        reward_snapshot.main(["--save", str(target)])
    assert exit.value.code == 2
    assert target.read_text() == "{}" and "not overwriting" in capsys.readouterr().err
