"""``import rewards`` and ``pleias-rl score`` stay light: no torch, transformers, trl or datasets.

Checked in a fresh subprocess through ``sys.modules`` (deterministic, unlike a wall-clock bound);
numpy stays unloaded until a language is detected, which is what keeps start-up fast.
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "transformers", "trl", "datasets", "accelerate", "peft")

PROBE = """
import json, sys, time
start = time.perf_counter()
import pleias_rl.rewards
from pleias_rl.rewards.registry import build_rewards
build_rewards(None)  # every registered reward class imported and instantiated
imported = time.perf_counter() - start
after_import = sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r} or m == "numpy")
from pleias_rl.cli import main
code = main(["score", sys.argv[1], "-o", sys.argv[2]])
after_run = sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})
print(json.dumps({{"imported_s": imported, "after_import": after_import, "after_run": after_run,
                   "code": code}}))
"""


def test_score_imports_no_heavy_library(tmp_path, hotpot_rows):
    row = dict(hotpot_rows[0], completion="English<|language_end|><|answer_start|>"
               "The answer is a demon from Mesopotamian mythology.<|answer_end|>")
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(row) + "\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=set(HEAVY)), str(source), str(tmp_path / "out.jsonl")],
        capture_output=True, text=True, check=True)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["after_import"] == []
    assert report["after_run"] == []
    assert report["code"] == 0
    scored = json.loads((tmp_path / "out.jsonl").read_text())
    assert scored["rewards"]["format"] < 1.0 and scored["rewards"]["language"] == 1.0
