"""``pleias-rl critique`` end to end: outputs, report, kill -9 and resume, DPO-ready preferences."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pleias_rl.critics.cli import main
from pleias_rl.critics.output import LEDGER, OUTPUT_FILES
from pleias_rl.data.corruptions import citation_cases

CATEGORIES = ("honest_trivial", "fabricated", "wrong_source", "changed_digit", "paraphrase",
              "tiny_fragments", "query_copy", "source_dump", "duplicate", "out_of_order")


@pytest.fixture(scope="module")
def input_file(hotpot_rows, tmp_path_factory) -> Path:
    """Honest and corrupted completions of the shipped sample, one bad line, one row without completion."""
    cases = citation_cases(hotpot_rows[:30])
    path = tmp_path_factory.mktemp("critique") / "input.jsonl"
    with open(path, "w", encoding="utf-8") as handle:
        for category in CATEGORIES:
            for completion, row in cases[category]:
                handle.write(json.dumps({**row, "id": f"{row['id']}-{category}", "completion": completion}) + "\n")
        handle.write("{not json\n")
        handle.write(json.dumps({"id": "no-completion", "query": "Who?", "sources": ["Ann."]}) + "\n")
    return path


def run_cli(input_file: Path, out_dir: Path, *extra: str) -> int:
    return main([str(input_file), "--out-dir", str(out_dir), "--no-progress", *extra])


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def reference(input_file, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reference")
    assert run_cli(input_file, out, "--sync", "batch") == 1  # the bad line and the row without completion
    return out


def test_outputs_follow_the_contract(reference, input_file):
    total = sum(1 for line in input_file.read_text().splitlines()) - 2
    ledger = rows(reference / LEDGER)
    assert len(ledger) == total
    sft, preferences, failures = (rows(reference / name) for name in OUTPUT_FILES)
    assert all(set(row) == {"id", "prompt", "completion"} for row in sft)
    assert all(set(row) == {"id", "prompt", "chosen", "rejected"} for row in preferences)
    assert all({"id", "round", "kind", "critic", "detail"} <= set(row) for row in failures)
    honest = sum(1 for entry in ledger if entry["id"].endswith("honest_trivial"))
    assert sum(entry["initially_passed"] for entry in ledger) == honest
    assert len(sft) == len(preferences) == sum(entry["accepted"] and not entry["initially_passed"] for entry in ledger)
    assert len({row["id"] for row in sft}) == len(sft)
    kinds = {row["kind"] for row in failures}
    assert {"misquote", "wrong_source", "number_changed", "query_quote", "quote_shape"} <= kinds
    assert all(pref["chosen"] != pref["rejected"] for pref in preferences)
    assert {entry["revised_by"] for entry in ledger if entry["accepted"] and not entry["initially_passed"]} == {"rules"}


def test_report_has_tallies_rates_rewards_and_chart(reference):
    report = (reference / "report.md").read_text()
    for heading in ("## Failures by kind", "## Failures by language", "## Failures by round",
                    "## Reward means before and after", "Acceptance rate", "report.png",
                    "Accepted revisions by author: rules "):
        assert heading in report
    citation_line = next(line for line in report.splitlines() if line.startswith("| citation |"))
    before, after = (float(cell) for cell in citation_line.split("|")[2:4])
    assert before < 0.5 and after > 0.95
    assert (reference / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rerun_on_a_finished_dir_adds_nothing(reference, input_file):
    before = {name: (reference / name).read_bytes() for name in (*OUTPUT_FILES, LEDGER)}
    assert run_cli(input_file, reference) == 1
    assert {name: (reference / name).read_bytes() for name in (*OUTPUT_FILES, LEDGER)} == before


@pytest.mark.slow
def test_kill_9_mid_run_then_resume_loses_and_duplicates_nothing(reference, input_file, tmp_path):
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "pleias_rl.cli", "critique", str(input_file), "--out-dir", str(out),
               "--no-progress", "--batch-size", "1", "--sync", "example"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        ledger = out / LEDGER
        if ledger.exists() and ledger.read_text().count("\n") >= 15:
            break
        time.sleep(0.05)
    assert process.poll() is None, "the run finished before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    done = (out / LEDGER).read_text().count("\n")
    assert 15 <= done < len(rows(reference / LEDGER))
    for name in ("sft.jsonl", LEDGER):  # a torn write, as a crash inside write() leaves it
        with open(out / name, "a", encoding="utf-8") as handle:
            handle.write('{"id": "torn", "prom')
    assert run_cli(input_file, out) == 1
    for name in (*OUTPUT_FILES, LEDGER):
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name


def test_preferences_load_as_dpo_dataset(reference):
    from datasets import load_dataset

    dataset = load_dataset("json", data_files=str(reference / "preferences.jsonl"), split="train")
    assert {"prompt", "chosen", "rejected"} <= set(dataset.column_names)
    assert dataset.num_rows == len(rows(reference / "preferences.jsonl")) > 0
    first = dataset[0]
    assert first["prompt"].endswith("<|language_start|>\n")
    assert first["chosen"].endswith("<|end_of_text|>")


def test_bad_config_and_missing_llm_are_clear_errors(input_file, tmp_path, capsys):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("critics: [rules]\nmax_round: 2\n")
    assert main([str(input_file), "--out-dir", str(tmp_path / "o"), "--config", str(recipe)]) == 2
    assert "unknown key(s) ['max_round']" in capsys.readouterr().err
    assert main([str(input_file), "--out-dir", str(tmp_path / "o"), "--critics", "rules,llm"]) == 2
    assert "critic 'llm' needs an LLM backend" in capsys.readouterr().err


def test_unreachable_llm_fails_fast(input_file, tmp_path, capsys):
    started = time.monotonic()
    code = main([str(input_file), "--out-dir", str(tmp_path / "o"), "--llm-url", "http://127.0.0.1:9/v1",
                 "--llm-timeout", "2", "--no-progress"])
    assert code == 3 and time.monotonic() - started < 10
    assert "backend unavailable" in capsys.readouterr().err
    assert not (tmp_path / "o" / LEDGER).exists()


@pytest.mark.slow
def test_dpo_trainer_trains_on_preferences_unchanged(reference, tmp_path):
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    from llm_server import TINY_MODEL_DIR
    from pleias_rl.rl.tiny import build_tiny_model

    path = build_tiny_model(TINY_MODEL_DIR)
    dataset = load_dataset("json", data_files=str(reference / "preferences.jsonl"), split="train").select(range(2))
    config = DPOConfig(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=2, report_to=[],
                       use_cpu=True, bf16=False, gradient_checkpointing=False, max_length=4096,
                       save_strategy="no", logging_steps=1)
    trainer = DPOTrainer(model=AutoModelForCausalLM.from_pretrained(path), args=config, train_dataset=dataset,
                         processing_class=AutoTokenizer.from_pretrained(path))
    loss = trainer.train().training_loss
    assert abs(loss - 0.6931) < 0.01  # ln 2: policy == reference at the first step


def test_ledger_ahead_of_its_data_is_rolled_back(reference, input_file, tmp_path):
    """As after a power cut that kept the ledger line but not the data it points to."""
    import shutil

    out = tmp_path / "power-cut"
    shutil.copytree(reference, out)
    sft = out / "sft.jsonl"
    lines = sft.read_text(encoding="utf-8").splitlines(keepends=True)
    sft.write_text("".join(lines[:-3]), encoding="utf-8")  # the last three SFT rows never hit the disk
    assert run_cli(input_file, out) == 1
    for name in (*OUTPUT_FILES, LEDGER):
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name


@pytest.mark.slow
def test_corrective_sft_recipe_trains_on_the_output_dir(reference, tmp_path):
    from llm_server import TINY_MODEL_DIR
    from pleias_rl.rl import sft
    from pleias_rl.rl.tiny import build_tiny_model

    recipe = Path(__file__).resolve().parent.parent / "configs" / "sft" / "corrective.yaml"
    flags = {"model_name_or_path": build_tiny_model(TINY_MODEL_DIR), "dataset_name": reference,
             "output_dir": tmp_path / "sft", "dtype": "float32", "use_cpu": "true", "bf16": "false",
             "activation_checkpointing": "false", "max_steps": 1, "per_device_train_batch_size": 2,
             "gradient_accumulation_steps": 1, "max_samples": 2, "save_strategy": "no", "report_to": "none", "logging_steps": 1}
    argv = ["--config", str(recipe)] + [item for key, value in flags.items() for item in (f"--{key}", str(value))]
    trainer = sft.run(*sft.parse_args(argv))
    assert trainer.state.global_step == 1
    assert [entry["loss"] for entry in trainer.state.log_history if "loss" in entry][0] > 0


def test_the_loop_parses_and_judges_each_completion_once(hotpot_rows, monkeypatch):
    from pleias_rl.critics.loop import CritiqueLoop
    from pleias_rl.critics.rules import RuleCritic
    from pleias_rl.rewards import base, citation

    cases = citation_cases(hotpot_rows[:6])
    rows = [(n, {**row, "id": str(n), "completion": text}) for n, (text, row) in enumerate(
        cases["honest_trivial"][:3] + cases["fabricated"][:3] + cases["wrong_source"][:3])]
    parsed, judged = [], []
    parse, judgement = base.parse_completion, citation.CitationReward._judgement
    monkeypatch.setattr(base, "parse_completion", lambda text: parsed.append(text) or parse(text))
    monkeypatch.setattr(citation.CitationReward, "_judgement",
                        lambda self, scored: judged.append(scored.text) or judgement(self, scored))
    base._last_memo.clear()
    results = CritiqueLoop([RuleCritic()]).run_batch(rows)
    assert all(result.accepted for result in results)
    assert all(result.rewards_after["citation"] == 1.0 for result in results)
    assert [result.rewards_before["citation"] for result in results] == [1.0] * 3 + [0.0] * 6
    # the critic and the reward values read one citation judgement per row and text (9 inputs,
    # 6 repairs), and one parse per text (the repairs are the honest inputs of the same records)
    assert len(judged) == 9 + 6 and len(parsed) == len(set(parsed)) == len(set(judged)) == 10
