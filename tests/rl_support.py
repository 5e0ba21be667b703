"""Fixtures and helpers shared by the ``tests/test_rl_*.py`` files (tiny model, small data)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest

REPO = Path(__file__).resolve().parent.parent
SMOKE = REPO / "configs" / "grpo" / "smoke.yaml"
WARMSTART = REPO / "configs" / "sft" / "warmstart.yaml"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny Llama of rl/tiny.py (tokenizer with the 19 Pleias tokens as special tokens)."""
    from pleias_rl.rl.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("rl") / "tiny-model")


@pytest.fixture(scope="session")
def rag_rows() -> list[dict[str, Any]]:
    """12 short-prompt HotpotQA/MuSiQue rows with oracle completions (pleias_rl.data.build, no exercises)."""
    from pleias_rl.data.build import BuildOptions, build_rows, file_records
    from pleias_rl.data.exercises import ExerciseOptions

    raw = sorted((REPO / "data" / "samples" / "raw").glob("*.json"))
    options = BuildOptions(max_prompt_tokens=300, sft=True, limit=12, exercises=ExerciseOptions.none())
    return list(build_rows(file_records(raw), options))


@pytest.fixture(scope="session")
def rl_jsonl(rag_rows: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The rows as a contracts-schema JSONL file (completions kept: GRPO must ignore them)."""
    path = tmp_path_factory.mktemp("rl") / "rl.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rag_rows), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def critic_dir(rag_rows: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A critic-loop output directory: ``sft.jsonl`` with ``id, prompt, completion`` rows."""
    out = tmp_path_factory.mktemp("critique")
    lines = [json.dumps({"id": row["id"], "prompt": row["prompt"], "completion": row["completion"]})
             for row in rag_rows]
    (out / "sft.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def overrides(**values: object) -> list[str]:
    """``--key value`` flags for the TRL parsers."""
    flags: list[str] = []
    for key, value in values.items():
        flags += [f"--{key}", str(value)]
    return flags


def weights(path: Path) -> dict[str, Any]:
    """The tensors of a saved model or adapter directory."""
    from safetensors.torch import load_file

    files = sorted(path.glob("*.safetensors"))
    assert files, f"no safetensors in {path}"
    tensors: dict[str, Any] = {}
    for file in files:
        tensors.update(load_file(str(file)))
    return tensors


def logged_keys(trainer: Any) -> set[str]:
    """Every metric name the trainer logged during training."""
    return {key for entry in trainer.state.log_history for key in entry}


class StopAfterFirstSave:
    """A trainer callback that kills the run right after its first checkpoint is written."""

    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt("killed after checkpoint")
