"""GRPO on the real TRL trainer with the tiny local model: rewards, logging, LoRA, 2 processes, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import pytest
import torch

from pleias_rl.data.format import EOS_TOKEN
from pleias_rl.rl import grpo
from rl_support import (  # noqa: F401  (fixtures)
    REPO, SMOKE, StopAfterFirstSave, critic_dir, logged_keys, overrides, rag_rows, rl_jsonl,
    tiny_model_dir, weights)

REWARDS = ("citation", "format", "language", "answer", "source_f1", "refusal")


def forced_rollout(good: dict[str, str], tokenizer: Any) -> Callable[[list[str], Any], dict[str, Any]]:
    """A TRL ``rollout_func`` that answers each prompt alternately with its well-formed oracle
    completion and with an unstructured one, so every group has reward variance."""
    seen: Counter[str] = Counter()

    def rollout(prompts: list[str], trainer: Any) -> dict[str, Any]:
        prompt_ids, completion_ids = [], []
        for prompt in prompts:
            seen[prompt] += 1
            text = good[prompt] + EOS_TOKEN if seen[prompt] % 2 else "No idea." + EOS_TOKEN
            prompt_ids.append(tokenizer(prompt, add_special_tokens=False)["input_ids"])
            completion_ids.append(tokenizer(text, add_special_tokens=False)["input_ids"])
        return {"prompt_ids": prompt_ids, "completion_ids": completion_ids,
                "logprobs": [[0.0] * len(ids) for ids in completion_ids]}

    return rollout


def smoke_args(model: Path, data: Path, out: Path, **extra: object) -> list[str]:
    """The smoke recipe pointed at the test's model, data and output directory."""
    return ["--config", str(SMOKE), *overrides(model_name_or_path=model, dataset_name=data,
                                               output_dir=out, build_tiny_model="false", **extra)]


@pytest.mark.slow
def test_two_steps_all_rewards_logged_and_structure_survives_decoding(
        tiny_model_dir: Path, rl_jsonl: Path, rag_rows: list[dict], tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    sample = tokenizer(rag_rows[0]["completion"], add_special_tokens=False)["input_ids"]
    assert "<|answer_start|>" not in tokenizer.decode(sample, skip_special_tokens=True)  # the trap
    good = {row["prompt"]: row["completion"] for row in rag_rows}

    trainer = grpo.run(*grpo.parse_args(smoke_args(tiny_model_dir, rl_jsonl, tmp_path / "out",
                                                   report_to="tensorboard")),
                       rollout_func=forced_rollout(good, tokenizer))

    assert trainer.state.global_step == 2
    steps = [entry for entry in trainer.state.log_history if "rewards/format/mean" in entry]
    assert len(steps) == 2
    for entry in steps:  # half of each group is a well-formed oracle output scoring 1.0
        assert 0.45 <= entry["rewards/format/mean"] <= 0.55
        assert entry["rewards/citation/mean"] > 0.4
    keys = logged_keys(trainer)
    assert {f"rewards/{name}/mean" for name in REWARDS} <= keys
    for prefix in ("citation/", "format/", "language/"):
        assert any(key.startswith(prefix) for key in keys), prefix
    before, after = weights(tiny_model_dir), weights(tmp_path / "out")
    changed = [name for name in before if not torch.equal(before[name], after[name])]
    assert len(changed) >= len(before) // 2
    tags = tensorboard_tags(tmp_path / "out")
    assert {f"train/rewards/{name}/mean" for name in REWARDS} <= tags
    assert {"train/format/clean", "train/language/answer_match", "train/citation/internal_error_rate"} <= tags
    assert any(tag.startswith("train/citation/") for tag in tags)


@pytest.mark.slow
def test_gated_rewards_optimise_the_weighted_mean_and_log_every_component(
        tiny_model_dir: Path, rl_jsonl: Path, rag_rows: list[dict], tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    good = {row["prompt"]: row["completion"] for row in rag_rows}
    trainer = grpo.run(*grpo.parse_args(smoke_args(tiny_model_dir, rl_jsonl, tmp_path / "out",
                                                   gate_rewards="true", max_steps=1)),
                       rollout_func=forced_rollout(good, tokenizer))

    assert trainer.args.reward_weights == [1.0]  # one reward function, scored once
    (entry,) = [e for e in trainer.state.log_history if "rewards/weighted/mean" in e]
    # half of each group is the oracle (weighted 1.0), half "No idea." (format < 0.5 gates citation)
    assert 0.4 <= entry["rewards/weighted/mean"] <= 0.65
    assert {f"weighted/{name}" for name in REWARDS} <= set(entry)  # each component's mean
    assert 0.45 <= entry["weighted/format"] <= 0.55
    keys = logged_keys(trainer)
    assert any(key.startswith("weighted/citation/") for key in keys)
    assert {f"{name}/internal_error_rate" for name in ("weighted", *REWARDS)} <= keys
    assert set(REWARDS) <= set(trainer._logs["extra"])  # a completions-table column each


@pytest.mark.slow
def test_sigkill_after_a_checkpoint_then_resume(tiny_model_dir: Path, rl_jsonl: Path,
                                                 tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = smoke_args(tiny_model_dir, rl_jsonl, out, max_steps=6, save_strategy="steps", save_steps=1)
    run = subprocess.Popen([sys.executable, str(REPO / "rl/grpo.py"), *args], cwd=REPO,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                           env={**os.environ, "OMP_NUM_THREADS": "1"}, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not (out / "checkpoint-1" / "trainer_state.json").exists():
            assert run.poll() is None, run.stderr.read()[-3000:]
            assert time.monotonic() < deadline, "no checkpoint within 300 s"
            time.sleep(0.02)
    finally:
        os.killpg(run.pid, signal.SIGKILL)  # a real kill, mid-training
        run.wait()
    assert not (out / "model.safetensors").exists()  # the run did not get to finish
    (out / "checkpoint-5").mkdir(exist_ok=True)  # as if killed while writing a later checkpoint

    trainer = grpo.run(*grpo.parse_args(args + ["--resume_from_checkpoint", "true"]))
    assert trainer.state.global_step == 6
    resumed_from = min(e["step"] for e in trainer.state.log_history if "rewards/format/mean" in e)
    assert resumed_from == 1  # the history of checkpoint 1 or later is kept, none is redone twice
    steps = [e["step"] for e in trainer.state.log_history if "rewards/format/mean" in e]
    assert steps == sorted(set(steps)) and steps[-1] == 6


def tensorboard_tags(output_dir: Path) -> set[str]:
    """Scalar tags written by the trainer's TensorBoard callback under ``output_dir/runs``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags: set[str] = set()
    for events in output_dir.glob("runs/**/events.out.tfevents.*"):
        accumulator = EventAccumulator(str(events))
        accumulator.Reload()
        tags |= set(accumulator.Tags()["scalars"])
    return tags


@pytest.mark.slow
def test_smoke_recipe_builds_the_tiny_model_and_generates(rl_jsonl: Path, tmp_path: Path) -> None:
    model = tmp_path / "tiny"  # does not exist yet: build_tiny_model in the recipe builds it
    args = ["--config", str(SMOKE), *overrides(model_name_or_path=model, dataset_name=rl_jsonl,
                                               output_dir=tmp_path / "out")]
    trainer = grpo.run(*grpo.parse_args(args))
    assert trainer.state.global_step == 2
    assert (model / "config.json").exists() and (tmp_path / "out" / "model.safetensors").exists()
    entry = next(e for e in trainer.state.log_history if "completions/mean_length" in e)
    assert 0 < entry["completions/mean_length"] <= 32


@pytest.mark.slow
def test_lora_trains_only_the_adapter(tiny_model_dir: Path, rl_jsonl: Path, rag_rows: list[dict],
                                      tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    good = {row["prompt"]: row["completion"] for row in rag_rows}
    args = smoke_args(tiny_model_dir, rl_jsonl, tmp_path / "out", use_peft="true", lora_r=4,
                      lora_alpha=8, learning_rate=1e-2)
    args += ["--lora_target_modules", "q_proj", "v_proj"]
    trainer = grpo.run(*grpo.parse_args(args), rollout_func=forced_rollout(good, tokenizer))
    assert trainer.state.global_step == 2
    adapter = weights(tmp_path / "out")
    assert json.loads((tmp_path / "out" / "adapter_config.json").read_text())["r"] == 4
    lora_b = [tensor for name, tensor in adapter.items() if "lora_B" in name]
    assert lora_b and any(tensor.abs().sum() > 0 for tensor in lora_b)  # B starts at zero


@pytest.mark.slow
def test_two_processes(tiny_model_dir: Path, rl_jsonl: Path, rag_rows: list[dict],
                       tmp_path: Path) -> None:
    command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
               str(REPO / "configs/accelerate/cpu2.yaml"), "--multi_gpu", "--num_processes", "2",
               str(REPO / "rl/grpo.py"),
               *smoke_args(tiny_model_dir, rl_jsonl, tmp_path / "out", save_strategy="steps",
                           save_steps=2)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launcher = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, stderr = launcher.communicate(timeout=600)
    finally:  # on a timeout, take both ranks down with the launcher: no orphan holds the port
        if launcher.poll() is None:
            # SIGTERM first: torch's elastic agent forwards it to the ranks it started in
            # sessions of their own, which a SIGKILL of the launcher's group would orphan.
            os.killpg(launcher.pid, signal.SIGTERM)
            try:
                launcher.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(launcher.pid, signal.SIGKILL)
                launcher.wait()
    assert launcher.returncode == 0, stderr[-3000:]
    state = json.loads((tmp_path / "out" / "checkpoint-2" / "trainer_state.json").read_text())
    assert state["global_step"] == 2
    # 2 processes x 4 completions = 2 prompts of 4 generations per step (one process: 1 prompt)
    assert state["log_history"][-1]["epoch"] == pytest.approx(2 * 2 / len(rag_rows))
    assert "rewards/format/mean" in state["log_history"][0]
    assert (tmp_path / "out" / "model.safetensors").exists()


@pytest.mark.slow
def test_resume_after_kill_reaches_the_same_step(tiny_model_dir: Path, rl_jsonl: Path,
                                                 tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = smoke_args(tiny_model_dir, rl_jsonl, out, max_steps=3, save_strategy="steps", save_steps=1)
    with pytest.raises(KeyboardInterrupt):
        grpo.run(*grpo.parse_args(args), callbacks=[StopAfterFirstSave()])
    assert [p.name for p in out.glob("checkpoint-*")] == ["checkpoint-1"]
    trainer = grpo.run(*grpo.parse_args(args + ["--resume_from_checkpoint", "true"]))
    assert trainer.state.global_step == 3
    logged_steps = [e["step"] for e in trainer.state.log_history if "rewards/format/mean" in e]
    assert logged_steps == [1, 2, 3]  # step 1 from the checkpoint, 2-3 after resuming


def test_reward_weights_follow_the_spec_and_bad_counts_fail(tiny_model_dir: Path) -> None:
    script, training, _ = grpo.parse_args(["--config", str(SMOKE)])
    assert training.reward_weights is None
    from transformers import AutoTokenizer

    funcs = grpo.build_reward_funcs(script, training, AutoTokenizer.from_pretrained(tiny_model_dir))
    assert [f.__name__ for f in funcs] == list(REWARDS)
    assert training.reward_weights == [1.0, 1.0, 0.5, 1.0, 0.5, 0.5]
    assert all(f.tokenizer is not None for f in funcs)
    training.reward_weights = [1.0]
    with pytest.raises(ValueError, match="reward_weights has 1 values for 6 rewards"):
        grpo.build_reward_funcs(script, training, None)


@pytest.mark.slow
def test_accelerate_launch_of_the_installed_module_with_a_shipped_recipe_name(
        tiny_model_dir: Path, rl_jsonl: Path, tmp_path: Path) -> None:
    """``accelerate launch -m pleias_rl.rl.grpo --config grpo/smoke`` from outside the checkout:
    the module and the recipe are found through the installed package, not the working directory."""
    out = tmp_path / "out"
    args = ["--config", "grpo/smoke", *overrides(model_name_or_path=tiny_model_dir, dataset_name=rl_jsonl,
                                                 output_dir=out, build_tiny_model="false", max_steps=1)]
    launched = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1", "--cpu",
         "-m", "pleias_rl.rl.grpo", *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert launched.returncode == 0, launched.stderr[-3000:]
    assert (out / "model.safetensors").is_file()
