"""SFT on the real TRL trainer: critic-loop directories, completion-only loss, resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from pleias_rl.rl import sft
from pleias_rl.rl.training_data import load_sft_dataset
from rl_support import (  # noqa: F401  (fixtures)
    WARMSTART, StopAfterFirstSave, critic_dir, overrides, rag_rows, tiny_model_dir, weights)


def sft_args(model: Path, data: Path, out: Path, **extra: object) -> list[str]:
    """The warm-start recipe pointed at the tiny model, on CPU, tiny sizes."""
    values = {"model_name_or_path": model, "dataset_name": data, "output_dir": out,
              "max_samples": 8, "per_device_train_batch_size": 2, "save_strategy": "no",
              "max_length": 1024, **extra}
    return ["--config", str(WARMSTART), *overrides(**values)]


def test_critic_dir_and_rag_rows_become_prompt_completion_pairs(
        critic_dir: Path, rag_rows: list[dict], tmp_path: Path) -> None:
    from_dir = load_sft_dataset(critic_dir)
    assert from_dir.column_names == ["prompt", "completion"] and len(from_dir) == len(rag_rows)
    rag_file = tmp_path / "rag.jsonl"  # RAG rows with a completion and no prompt: prompt built
    rag_file.write_text("".join(json.dumps({k: v for k, v in row.items() if k != "prompt"}) + "\n"
                                for row in rag_rows[:2]))
    built = load_sft_dataset(rag_file)
    assert built[0]["prompt"] == rag_rows[0]["prompt"]
    assert built[0]["completion"] == rag_rows[0]["completion"]


def test_bad_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "sft.jsonl"
    path.write_text('{"id": "a", "prompt": "P", "completion": "C"}\n{"id": "b", "prompt": "P"}\n')
    with pytest.raises(ValueError, match=r"sft.jsonl:2: field completion"):
        load_sft_dataset(tmp_path)


@pytest.mark.slow
def test_sft_on_critic_dir_trains_on_completion_tokens_only(
        tiny_model_dir: Path, critic_dir: Path, tmp_path: Path) -> None:
    trainer = sft.run(*sft.parse_args(sft_args(tiny_model_dir, critic_dir, tmp_path / "out")))
    assert trainer.state.global_step == 4  # 8 rows / batch 2, one epoch
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 4 and all(loss > 0 for loss in losses)
    example = trainer.train_dataset[0]
    labels = example["labels"]
    prompt_tokens = len(trainer.processing_class(
        load_sft_dataset(critic_dir)[0]["prompt"], add_special_tokens=False)["input_ids"])
    assert set(labels[:prompt_tokens]) == {-100}  # no loss on the prompt
    assert labels[prompt_tokens:] == example["input_ids"][prompt_tokens:]  # loss on every target token
    eos = trainer.processing_class.eos_token_id
    assert example["input_ids"][-1] == eos  # the target ends with the EOS generation stops at
    before, after = weights(tiny_model_dir), weights(tmp_path / "out")
    assert any(not torch.equal(before[name], after[name]) for name in before)


@pytest.mark.slow
def test_resume_after_kill_matches_an_uninterrupted_run(
        tiny_model_dir: Path, critic_dir: Path, tmp_path: Path) -> None:
    extra = {"save_strategy": "steps", "save_steps": 2, "lr_scheduler_type": "linear"}
    reference = sft.run(*sft.parse_args(sft_args(tiny_model_dir, critic_dir, tmp_path / "ref", **extra)))
    args = sft_args(tiny_model_dir, critic_dir, tmp_path / "out", **extra)
    with pytest.raises(KeyboardInterrupt):
        sft.run(*sft.parse_args(args), callbacks=[StopAfterFirstSave()])
    assert [p.name for p in (tmp_path / "out").glob("checkpoint-*")] == ["checkpoint-2"]
    resumed = sft.run(*sft.parse_args(args + ["--resume_from_checkpoint", "true"]))
    assert resumed.state.global_step == reference.state.global_step == 4
    # same batches in the same order after the resume: nothing skipped or seen twice
    expected, got = weights(tmp_path / "ref"), weights(tmp_path / "out")
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-4, atol=1e-5)
