"""``pleias-rl eval`` with real models: the tiny local Llama in process and behind ``transformers serve``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pleias_rl.evaluation.cli import main
from llm_server import served_tiny_model, tiny_model_dir  # noqa: F401  (pytest fixtures)

pytestmark = pytest.mark.slow


def short_rows(hotpot_rows: list[dict], count: int) -> list[dict]:
    """Rows with two short sources each, so the tiny model's prompts stay small."""
    rows = []
    for row in hotpot_rows[:count]:
        sources = [{"text": source["text"][:160]} for source in row["sources"][:2]]
        rows.append({**row, "sources": sources, "supporting_ids": [1]})
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def generation_lines(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "generations.jsonl").read_text().splitlines()]


def test_in_process_generation_with_the_tiny_model_resumes(tmp_path, hotpot_rows, tiny_model_dir):
    dataset = write_jsonl(tmp_path / "rows.jsonl", short_rows(hotpot_rows, 3))
    out = tmp_path / "run"
    base = ["--model", str(tiny_model_dir), "--dataset", str(dataset), "--out-dir", str(out),
            "--max-new-tokens", "12", "--batch-size", "2", "--quiet", "--no-plots"]
    assert main(base + ["--limit", "2"]) == 0
    first = generation_lines(out)
    assert [line["key"] for line in first] == [row["id"] for row in hotpot_rows[:2]]
    assert all(line["completion_tokens"] <= 12 and line["finish_reason"] in ("stop", "length") for line in first)
    # An interrupted write leaves a cut last line: it is dropped and that row generated again.
    with open(out / "generations.jsonl", "a") as handle:
        handle.write('{"key": "cut mid-wri')
    assert main(base) == 0
    lines = generation_lines(out)
    assert lines[:2] == first, "rows already generated are kept, not regenerated"
    assert [line["key"] for line in lines] == [row["id"] for row in hotpot_rows[:3]]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n"] == 3 and summary["run"]["backend"] == "transformers"
    assert summary["overall"]["mean_completion_tokens"] <= 12
    assert summary["overall"]["truncation_rate"] is not None


def test_judge_against_transformers_serve_records_junk_and_caches(tmp_path, hotpot_rows, served_tiny_model):
    from pleias_rl.data.targets import oracle_completion

    rows = [{**row, "completion": oracle_completion(row)} for row in hotpot_rows[:3]]
    generations = write_jsonl(tmp_path / "g.jsonl", rows)
    out = tmp_path / "run"
    args = ["--generations", str(generations), "--out-dir", str(out), "--judge-url",
            served_tiny_model.base_url, "--judge-model", served_tiny_model.model, "--quiet", "--no-plots"]
    assert main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["judge"]["requests"] == 3 and summary["judge"]["errors"] == 0
    judge = summary["overall"]["judge"]
    assert judge["n"] == 3
    scores = [json.loads(line) for line in (out / "scores.jsonl").read_text().splitlines()]
    for record in scores:  # a random tiny model answers junk: a recorded failure, not a crash
        assert isinstance(record["judge"]["reply"], str)
        assert (record["judge"]["grade"] is None) == (record["judge"].get("error") == "reply is not a grade")
    assert judge["failures"] == sum(r["judge"]["grade"] is None for r in scores) == 3
    assert judge["accuracy"] is None, "no grade is never counted as right or wrong"
    assert len((out / "judge_cache.jsonl").read_text().splitlines()) == 3
    assert main(args) == 0
    again = json.loads((out / "summary.json").read_text())
    assert again["judge"] == {"model": served_tiny_model.model, "requests": 0, "cache_hits": 3, "errors": 0,
                              "truncated": 0}
    assert again["overall"]["judge"] == judge


def test_endpoint_generation_through_transformers_serve_fails_loudly(tmp_path, hotpot_rows, served_tiny_model,
                                                                      capsys):
    """``transformers serve`` drops special tokens and answers 422 to vLLM's skip_special_tokens:
    the run stops before generating, with the fix, instead of scoring format 0."""
    dataset = write_jsonl(tmp_path / "rows.jsonl", short_rows(hotpot_rows, 2))
    out = tmp_path / "run"
    assert main(["--model", served_tiny_model.model, "--dataset", str(dataset), "--out-dir", str(out),
                 "--backend", "endpoint", "--endpoint-url", served_tiny_model.base_url,
                 "--max-new-tokens", "8", "--quiet", "--no-plots"]) == 3
    error = capsys.readouterr().err
    assert "rejects vLLM's skip_special_tokens" in error and "--backend transformers" in error
    assert not (out / "summary.json").exists() and not (out / "generations.jsonl").exists()


def test_in_process_judge_with_the_tiny_model(tmp_path, hotpot_rows, tiny_model_dir):
    from pleias_rl.data.targets import oracle_completion

    rows = [{**row, "completion": oracle_completion(row)} for row in hotpot_rows[:2]]
    generations = write_jsonl(tmp_path / "g.jsonl", rows)
    out = tmp_path / "run"
    assert main(["--generations", str(generations), "--out-dir", str(out), "--judge-local",
                 str(tiny_model_dir), "--quiet", "--no-plots"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["judge"]["requests"] == 2 and summary["overall"]["judge"]["n"] == 2
