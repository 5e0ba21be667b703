"""``pleias-rl eval`` end to end: outputs, the judge over real HTTP, caching, compare, bad input."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path
from typing import Iterator

import pytest

from pleias_rl.data.targets import oracle_completion
from pleias_rl.evaluation.cli import main
from http_stub import JSONHandler, serve
from rl_support import tiny_model_dir  # noqa: F401  (fixture)


class GradingJudge(JSONHandler):
    """A deterministic judge on ``/v1/chat/completions``: "Yes" when the gold is in the answer,
    "Rather yes" when the answer says "probably", "No" otherwise; counts its requests."""

    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        self.reply(200, {"status": "ok"} if self.path == "/health" else {"data": []})

    def do_POST(self) -> None:  # noqa: N802
        user = self.read_json()["messages"][-1]["content"]
        GradingJudge.requests.append(user)
        gold = re.search(r"Gold answer: (.*?)(?: \(also accepted|\n)", user).group(1).lower()
        answer = re.search(r"Candidate answer: (.*)\n", user).group(1).lower()
        grade = "Rather yes" if "probably" in answer else "Yes" if gold in answer else "No"
        self.reply(200, {"choices": [{"message": {"role": "assistant", "content": grade}}]})


@pytest.fixture()
def judge_url() -> Iterator[str]:
    GradingJudge.requests = []
    with serve(GradingJudge) as url:
        yield url + "/v1"


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture()
def oracle_file(tmp_path, hotpot_rows) -> Path:
    return write_jsonl(tmp_path / "oracle.jsonl",
                       [{**row, "completion": oracle_completion(row)} for row in hotpot_rows[:20]])


def read_summary(out_dir: Path) -> dict:
    return json.loads((out_dir / "summary.json").read_text())


def test_generations_file_writes_summary_report_scores_and_plots(tmp_path, oracle_file):
    out = tmp_path / "run"
    assert main(["--generations", str(oracle_file), "--out-dir", str(out), "--quiet"]) == 0
    summary = read_summary(out)
    assert summary["n"] == 20
    assert set(summary["overall"]["rewards"]) == {"citation", "format", "language", "answer",
                                                  "source_f1", "refusal"}
    assert summary["per_language"]["en"]["n"] == 20
    assert summary["overall"]["rewards"]["answer"] == 1.0
    for key in ("per_dataset", "per_type", "language_loss", "n_without_gold", "run", "judge"):
        assert key in summary
    assert len((out / "scores.jsonl").read_text().splitlines()) == 20
    report = (out / "report.md").read_text()
    assert "## Per language" in report and "![per_language.png](per_language.png)" in report
    for plot in ("reward_distributions.png", "per_language.png", "per_dataset.png"):
        assert (out / plot).read_bytes()[:4] == b"\x89PNG"


def test_judge_grades_with_dataset_rule_and_cache_prevents_second_requests(tmp_path, hotpot_rows, judge_url):
    rows = [{**row, "completion": oracle_completion(row)} for row in hotpot_rows[:6]]
    wrong = oracle_completion(hotpot_rows[10])
    rows[4] = {**rows[4], "completion": wrong}
    hedged = {**hotpot_rows[5], "answer": "Probably"}  # "probably" in the answer: "Rather yes"
    rows[5] = {**hedged, "completion": oracle_completion(hedged), "meta": {**hedged["meta"], "dataset": "musique"}}
    rows.append({**rows[3], "id": "hedged-hotpot", "answer": "Probably",
                 "completion": oracle_completion(hedged)})
    generations = write_jsonl(tmp_path / "g.jsonl", rows)
    out = tmp_path / "run"
    args = ["--generations", str(generations), "--out-dir", str(out), "--judge-url", judge_url,
            "--judge-model", "grader", "--quiet", "--no-plots"]
    assert main(args) == 0
    judge = read_summary(out)["overall"]["judge"]
    assert judge["grades"] == {"yes": 4, "rather yes": 2, "rather no": 0, "no": 1}
    # "rather yes" counts for the MuSiQue row only, not for the HotpotQA one.
    assert judge["accuracy"] == pytest.approx(5 / 7)
    assert read_summary(out)["per_dataset"]["musique"]["judge"]["accuracy"] == 1.0
    assert read_summary(out)["judge"]["requests"] == 7
    assert len(GradingJudge.requests) == 7
    assert main(args) == 0
    assert len(GradingJudge.requests) == 7, "a rerun must be served from the cache"
    assert read_summary(out)["judge"] == {"model": "grader", "requests": 0, "cache_hits": 7, "errors": 0,
                                          "truncated": 0}
    assert "## LLM-as-a-match judge" in (out / "report.md").read_text()


def test_unreachable_judge_fails_before_any_generation(tmp_path, oracle_file, capsys):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    out = tmp_path / "run"
    code = main(["--model", str(tmp_path / "no-such-model"), "--dataset", str(oracle_file),
                 "--out-dir", str(out), "--judge-url", dead, "--judge-timeout", "2", "--quiet"])
    assert code == 3  # a server unavailable (pleias_rl.data.exit_codes)
    message = capsys.readouterr().err
    assert "unreachable" in message and "Nothing was generated" in message
    assert not (out / "generations.jsonl").exists() and not (out / "summary.json").exists()


def test_bad_lines_are_reported_and_skipped_with_nonzero_exit(tmp_path, oracle_file, capsys):
    lines = oracle_file.read_text().splitlines()
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join([lines[0], "{not json", json.dumps({"query": "q", "sources": ["s"]}), lines[1]]) + "\n")
    out = tmp_path / "run"
    assert main(["--generations", str(broken), "--out-dir", str(out), "--quiet", "--no-plots"]) == 1
    err = capsys.readouterr().err
    assert f"{broken}:2: not valid JSON" in err and f"{broken}:3: field completion" in err
    summary = read_summary(out)
    assert summary["n"] == 2 and summary["run"]["skipped_lines"] == 2


def test_compare_puts_runs_side_by_side(tmp_path, oracle_file, hotpot_rows):
    wrong = write_jsonl(tmp_path / "wrong.jsonl", [
        {**row, "completion": oracle_completion(hotpot_rows[(i + 1) % 20])} for i, row in enumerate(hotpot_rows[:20])])
    before, after, both = tmp_path / "before", tmp_path / "after", tmp_path / "both"
    assert main(["--generations", str(wrong), "--out-dir", str(before), "--quiet", "--no-plots"]) == 0
    assert main(["--generations", str(oracle_file), "--out-dir", str(after), "--quiet", "--no-plots"]) == 0
    assert main(["--compare", str(before), str(after), "--labels", "before,after", "--out-dir", str(both)]) == 0
    report = (both / "report.md").read_text()
    assert "| measure | before | after | Δ last − first |" in report
    row = next(line for line in report.splitlines() if line.startswith("| reward:answer |"))
    assert row == "| reward:answer | 0.013 | 1.000 | +0.987 |"
    assert (both / "compare.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(SystemExit, match="not found"):
        main(["--compare", str(tmp_path / "missing"), "--out-dir", str(both)])


def test_model_setup_errors_are_clear(tmp_path, oracle_file):
    out = tmp_path / "run"
    base = ["--dataset", str(oracle_file), "--out-dir", str(out), "--quiet", "--limit", "1"]
    with pytest.raises(SystemExit, match="cannot load model"):
        main(["--model", str(tmp_path / "no-such-model"), *base])
    with pytest.raises(SystemExit, match="was generated with model="):
        main(["--model", "another-model", *base])
    with pytest.raises(SystemExit, match="--model needs --dataset"):
        main(["--model", "m", "--out-dir", str(tmp_path / "other")])


@pytest.mark.skipif(__import__("importlib").util.find_spec("vllm") is not None, reason="vLLM is installed")
def test_vllm_backend_without_vllm_says_how_to_install(tmp_path, oracle_file):
    with pytest.raises(SystemExit, match="pip install vllm"):
        main(["--model", "m", "--dataset", str(oracle_file), "--out-dir", str(tmp_path / "run"),
              "--backend", "vllm", "--quiet"])


def test_model_in_process_on_the_chosen_device_and_dtype(tmp_path, oracle_file, tiny_model_dir, capsys):
    out = tmp_path / "run"
    args = ["--model", str(tiny_model_dir), "--dataset", str(oracle_file), "--out-dir", str(out),
            "--max-new-tokens", "4", "--limit", "3", "--device", "cpu", "--dtype", "float32",
            "--no-plots", "--quiet"]
    assert main(args) == 0
    generations = [json.loads(line) for line in (out / "generations.jsonl").read_text().splitlines()]
    assert len(generations) == 3 and all(row["completion_tokens"] <= 4 for row in generations)
    assert read_summary(out)["n"] == 3
    with pytest.raises(SystemExit):  # argparse names the accepted values
        main([*args, "--dtype", "float64"])
    assert "invalid choice: 'float64'" in capsys.readouterr().err
