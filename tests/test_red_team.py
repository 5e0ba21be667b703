"""The red team (benchmarks/red_team.py) on a small size: every target met, exit 0."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_red_team_meets_every_target_on_a_small_size() -> None:
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "red_team.py"), "--size", "12"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "all targets met" in done.stdout
    for kind in ("negation_elided", "stitched", "cut_word", "cut_number", "near_dump", "fuzzy_negation",
                 "generic_phrase", "tiny_refs", "dot_answer", "counting", "klingon_line",
                 "zero_width_section", "delete_words", "swap_names", "query_overlap", "mid_sentence"):
        assert kind in done.stdout


def test_red_team_docstring_examples() -> None:
    import doctest
    import importlib.util

    spec = importlib.util.spec_from_file_location("red_team", REPO / "benchmarks" / "red_team.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["red_team"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    result = doctest.testmod(module)
    assert result.failed == 0 and result.attempted >= 10
