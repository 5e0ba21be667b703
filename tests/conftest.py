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
