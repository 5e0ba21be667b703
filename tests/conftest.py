"""Shared test set-up: no hub access, real sample data."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parent.parent
RAW_SAMPLES = REPO / "data" / "samples" / "raw"


@pytest.fixture(scope="session")
def hotpot_rows() -> list[dict]:
    """The 100 shipped HotpotQA records as RAG examples (with supporting sentences in meta)."""
    from pleias_rl.data.readers import read_hotpotqa

    records = json.loads((RAW_SAMPLES / "hotpotqa_train_sample100.json").read_text())
    return list(read_hotpotqa(records))


BARE_NAMES = ("data", "rewards", "rl", "critics", "evaluation", "inference", "configs")
"""Folder names that must never be imported as top-level packages: everything is ``pleias_rl.*``."""


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when any test imported a module of ours under a bare name (a second copy)."""
    import sys

    bare = sorted(name for name in sys.modules if name.split(".")[0] in BARE_NAMES)
    if bare:
        print(f"\nmodules imported under a bare top-level name (not pleias_rl.*): {bare}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
