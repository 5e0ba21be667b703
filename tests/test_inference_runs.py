"""Whole runs on the one inference layer against the vLLM-like stub (tests/http_stub.py): the
Pleias tags survive ``pleias-rl eval --backend endpoint`` and the critic's ``--policy-url``; a
server that loses them stops the run with the fix; a server dying mid-run is a recorded failure
per request and the generator, the judge and the critic each finish and write their report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from http_stub import VLLMScript, serve_vllm
from pleias_rl.critics.cli import main as critique_main
from pleias_rl.data.targets import oracle_completion
from pleias_rl.evaluation.cli import main as eval_main


def write_rows(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def oracle_by_prompt(rows: list[dict]) -> Callable[[str], str]:
    """The stub's model: the oracle completion of each row's prompt (a language line otherwise)."""
    from pleias_rl.data.format import build_prompt
    from pleias_rl.data.schema import source_texts

    oracle = {build_prompt(row["query"], source_texts(row["sources"])): oracle_completion(row) for row in rows}
    return lambda prompt: oracle.get(prompt, "English<|language_end|>")


def endpoint_args(url: str, dataset: Path, out: Path) -> list[str]:
    return ["--model", "stub", "--dataset", str(dataset), "--out-dir", str(out), "--backend", "endpoint",
            "--endpoint-url", url, "--max-new-tokens", "2048", "--rewards", "format", "--quiet", "--no-plots"]


def test_eval_endpoint_keeps_the_tags(tmp_path, hotpot_rows):
    rows = hotpot_rows[:3]
    script = VLLMScript(completion=oracle_by_prompt(rows))
    with serve_vllm(script) as url:
        assert eval_main(endpoint_args(url, write_rows(tmp_path / "d.jsonl", rows), tmp_path / "run")) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["overall"]["rewards"]["format"] == 1.0
    assert summary["overall"]["truncation_rate"] == 0.0
    assert len(script.bodies) == 4  # the check's one-token completion, then the 3 rows
    assert all(body["skip_special_tokens"] is False is body["spaces_between_special_tokens"]
               for body in script.bodies)


def test_eval_endpoint_that_drops_the_tags_stops_with_the_fix(tmp_path, hotpot_rows, capsys):
    rows = hotpot_rows[:3]
    script = VLLMScript(completion=oracle_by_prompt(rows), honours_keep=False)
    with serve_vllm(script) as url:
        assert eval_main(endpoint_args(url, write_rows(tmp_path / "d.jsonl", rows), tmp_path / "run")) == 3
    error = capsys.readouterr().err
    assert "without any Pleias tag" in error and "vLLM" in error and "--backend transformers" in error
    assert not (tmp_path / "run" / "summary.json").exists()


def test_eval_generator_survives_a_server_dying_mid_run(tmp_path, hotpot_rows, capsys):
    rows = hotpot_rows[:6]
    # the check (2 requests: health is a GET, then a one-token completion), 2 rows, then death
    script = VLLMScript(completion=oracle_by_prompt(rows), faults=["", "", "", "die"])
    dataset = write_rows(tmp_path / "d.jsonl", rows)
    with serve_vllm(script) as url:
        code = eval_main(endpoint_args(url, dataset, tmp_path / "run") + ["--batch-size", "2"])
    assert code == 1
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["n"] == 2 and summary["run"]["skipped_lines"] == 4
    error = capsys.readouterr().err
    assert error.count("generation failed (rerun to retry)") == 4


def test_judge_survives_a_server_dying_mid_run(tmp_path, hotpot_rows):
    rows = [{**row, "completion": oracle_completion(row)} for row in hotpot_rows[:4]]
    script = VLLMScript(chat_reply="yes", faults=["", "die"])
    with serve_vllm(script) as url:
        code = eval_main(["--generations", str(write_rows(tmp_path / "g.jsonl", rows)), "--out-dir",
                          str(tmp_path / "run"), "--judge-url", url, "--judge-model", "stub",
                          "--judge-concurrency", "1", "--quiet", "--no-plots"])
    assert code == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["judge"]["requests"] == 4 and summary["judge"]["errors"] == 3
    assert summary["overall"]["judge"]["n"] == 1 or summary["overall"]["judge"]["accuracy"] == 1.0


def test_critic_policy_and_llm_critic_survive_a_server_dying_mid_run(tmp_path, hotpot_rows):
    rows = [{key: row[key] for key in ("id", "query", "sources")} for row in hotpot_rows[:6]]
    verdict = json.dumps({"critique": "fine", "verdict": "pass", "issues": [], "revision": None})
    script = VLLMScript(completion=oracle_by_prompt(hotpot_rows[:6]), chat_reply=verdict,
                        faults=[""] * 5 + ["die"])
    out = tmp_path / "out"
    with serve_vllm(script) as url:
        code = critique_main([str(write_rows(tmp_path / "in.jsonl", rows)), "--out-dir", str(out),
                              "--policy-url", url, "--llm-url", url, "--llm-timeout", "5", "--batch-size", "2",
                              "--no-progress"])
    assert code == 1  # rows whose policy request failed are listed as skipped
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "- Examples: 2 " in report and "openai.failures" in report
    assert len((out / "examples.jsonl").read_text().splitlines()) == 2
