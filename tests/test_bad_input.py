"""Bad input for every command that reads JSON Lines (score, critique, eval, data build, data stats).

Each bad line is named ``FILE:LINE`` with the exact message and exit code 1, and every other
row is kept; an output is never an input; documented exit codes (pleias_rl.data.exit_codes).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pleias_rl.cli import main as pleias_rl
from pleias_rl.data.format import format_ref, render_completion

REPO = Path(__file__).resolve().parent.parent
HOTPOT = REPO / "data" / "samples" / "raw" / "hotpotqa_train_sample100.json"

BAD_LINES: dict[str, tuple[bytes, str]] = {
    "invalid-utf8": (b'{"query": "caf\xe9", "sources": ["x"]}', "not valid UTF-8 (byte 0xe9 at column 15)"),
    "lone-surrogate": (b'{"query": "q\\ud800", "sources": ["x"]}',
                       "field query: lone surrogate U+D800 (valid JSON, but not encodable as UTF-8)"),
    "deep-nesting": (b"[" * 100_000 + b"]" * 100_000, "nesting too deep to decode"),
    "huge-integer": (b'{"query": "q", "sources": [], "n": ' + b"7" * 5000 + b"}",
                     "integer over 4,300 digits (Python's int conversion limit)"),
    "invalid-json": (b'{"query": ', "not valid JSON (Expecting value at column 11)"),
}
"""Each case: the bytes of line 2 of an input, and what the commands say about it."""


def scored_row(row: dict) -> dict:
    source_id, sentence = row["meta"]["supporting_sentences"][0]
    completion = render_completion(language="English", query_analysis="A lookup.", query_report="Trivial",
                                   answer=f"It is {row['answer']}" + format_ref(source_id, sentence) + ".")
    return {**row, "completion": completion}


def input_with(tmp_path: Path, rows: list[dict], bad: bytes, name: str = "in.jsonl") -> Path:
    """A file of ``rows[0]``, the bad line, then the other rows (the bad line is line 2)."""
    lines = [json.dumps(rows[0]).encode(), bad, *(json.dumps(row).encode() for row in rows[1:])]
    path = tmp_path / name
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def lines_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def rows(hotpot_rows: list[dict]) -> list[dict]:
    return [scored_row(row) for row in hotpot_rows[:2]]


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_score_skips_and_names_the_bad_line(case, rows, tmp_path, capsys):
    bad, message = BAD_LINES[case]
    path = input_with(tmp_path, rows, bad)
    out = tmp_path / "out.jsonl"
    assert pleias_rl(["score", str(path), "-o", str(out), "--rewards", "format"]) == 1
    assert f"skipped {path}:2: {message}\n" in capsys.readouterr().err
    assert [row["id"] for row in lines_of(out)] == [row["id"] for row in rows]


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_data_build_and_stats_skip_and_name_the_bad_line(case, rows, tmp_path, capsys):
    bad, message = BAD_LINES[case]
    path = input_with(tmp_path, rows, bad)
    out = tmp_path / "built.jsonl"
    assert pleias_rl(["data", "build", "--input", str(path), "--output", str(out), "--no-exercises"]) == 1
    err = capsys.readouterr().err
    assert f"skipped {path}:2: {message}\n" in err and "wrote 2 rows; skipped 1 malformed" in err
    assert [row["id"] for row in lines_of(out)] == [row["id"] for row in rows]
    assert pleias_rl(["data", "stats", str(path), "--json"]) == 1
    captured = capsys.readouterr()
    assert captured.err == f"bad line {path}:2: {message}\n"
    assert json.loads(captured.out)["rows"] == 2 and json.loads(captured.out)["bad_lines"] == 1


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_eval_skips_and_names_the_bad_line(case, rows, tmp_path, capsys):
    bad, message = BAD_LINES[case]
    path = input_with(tmp_path, rows, bad)
    out = tmp_path / "eval"
    assert pleias_rl(["eval", "--generations", str(path), "--out-dir", str(out), "--no-plots", "--quiet",
                      "--rewards", "format"]) == 1
    assert f"pleias-rl eval: skipped {path}:2: {message}\n" in capsys.readouterr().err
    assert len(lines_of(out / "scores.jsonl")) == 2


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_critique_skips_the_bad_line_at_every_rerun(case, rows, tmp_path, capsys):
    """No poison row: the rerun reads the same bad line, names it again and resumes the rest."""
    bad, message = BAD_LINES[case]
    path = input_with(tmp_path, rows, bad)
    out = tmp_path / "critique"
    command = ["critique", str(path), "--out-dir", str(out), "--no-progress", "--max-rounds", "1"]
    assert pleias_rl(command) == 1
    assert f"skipped {path}:2: {message}\n" in capsys.readouterr().err
    assert pleias_rl(command) == 1
    err = capsys.readouterr().err
    assert f"skipped {path}:2: {message}\n" in err and f"resuming {out}: 2 rows already done (by id)" in err
    assert [entry["id"] for entry in lines_of(out / "examples.jsonl")] == [row["id"] for row in rows]


def test_no_command_writes_over_its_input(rows, tmp_path, capsys):
    path = input_with(tmp_path, rows, b"")
    before = path.read_bytes()
    assert pleias_rl(["score", str(path), "-o", str(path)]) == 2
    assert capsys.readouterr().err == (f"pleias-rl score: output {path} is an input file; write to another "
                                       "path (inputs are never overwritten)\n")
    assert pleias_rl(["data", "build", "--input", str(path), "--output", str(path)]) == 2
    assert f"error: output {path} is an input file" in capsys.readouterr().err
    out = tmp_path / "eval"
    out.mkdir()
    scores = out / "scores.jsonl"
    scores.write_bytes(before)
    assert pleias_rl(["eval", "--generations", str(scores), "--out-dir", str(out), "--quiet"]) == 2
    assert f"pleias-rl eval: output {scores} is an input file" in capsys.readouterr().err
    critique = tmp_path / "critique"
    critique.mkdir()
    (critique / "sft.jsonl").write_bytes(before)
    assert pleias_rl(["critique", str(critique / "sft.jsonl"), "--out-dir", str(critique), "--no-progress"]) == 2
    assert "is an input file" in capsys.readouterr().err
    assert path.read_bytes() == scores.read_bytes() == (critique / "sft.jsonl").read_bytes() == before
    assert not list(tmp_path.rglob("*.partial"))
    rescored = out / "generations.jsonl"  # an eval with --model wrote it; rescoring it is fine
    rescored.write_bytes(before)
    assert pleias_rl(["eval", "--generations", str(rescored), "--out-dir", str(out), "--quiet", "--no-plots",
                      "--rewards", "format"]) == 0


def test_data_build_writing_no_row_exits_4_and_keeps_the_previous_output(tmp_path, capsys):
    unsupported = tmp_path / "other.jsonl"
    unsupported.write_text(json.dumps({"text": "a review", "label": 1}) + "\n")
    out = tmp_path / "out.jsonl"
    out.write_text("previous\n")
    assert pleias_rl(["data", "build", "--input", str(unsupported), "--output", str(out)]) == 4
    err = capsys.readouterr().err
    assert (f"skipped {unsupported}:1: unsupported layout: expected the keys of HotpotQA/2Wiki (context, "
            "question), MuSiQue (paragraphs) or RAG JSONL (query, sources); found keys: label, text\n") in err
    assert f"error: no row to write to {out} (left unchanged)" in err
    assert "skipped 0 malformed, 1 in an unsupported layout" in err
    assert out.read_text() == "previous\n" and not list(tmp_path.glob("*.partial"))


def test_data_build_replaces_what_a_killed_build_left(tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    stale = tmp_path / "out.jsonl.partial"
    stale.write_text('{"half": ')
    scratch = tmp_path / "out.parquet.partial.d"
    scratch.mkdir()
    (scratch / "rows.jsonl").write_text("stale")
    assert pleias_rl(["data", "build", "--input", str(HOTPOT), "--output", str(out), "--limit", "3"]) == 0
    assert pleias_rl(["data", "build", "--input", str(HOTPOT), "--output", str(tmp_path / "out.parquet"),
                      "--limit", "3"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl", "out.parquet"]


def test_terminated_data_build_removes_its_partial(tmp_path):
    records = json.loads(HOTPOT.read_text())
    big = tmp_path / "big.json"
    big.write_text(json.dumps(records * 200))  # 20,000 records: seconds to build
    out = tmp_path / "out.jsonl"
    process = subprocess.Popen([sys.executable, "-m", "pleias_rl.cli", "data", "build", "--input", str(big),
                                "--output", str(out), "--no-budget"], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (tmp_path / "out.jsonl.partial").exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, "the build finished before it could be terminated"
    os.kill(process.pid, signal.SIGTERM)
    assert process.wait(timeout=60) == 143
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.json"]


def test_critique_resumes_by_row_id_not_by_line(rows, hotpot_rows, tmp_path, capsys):
    first = input_with(tmp_path, rows, b"", name="first.jsonl")
    other_rows = [scored_row(row) for row in hotpot_rows[2:5]]
    other = input_with(tmp_path, other_rows, b"", name="other.jsonl")
    out = tmp_path / "critique"
    assert pleias_rl(["critique", str(first), "--out-dir", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    assert pleias_rl(["critique", str(other), "--out-dir", str(out), "--no-progress"]) == 0
    assert (f"note: {out} holds 2 examples of other rows (other ids); this input's rows are processed "
            "and added") in capsys.readouterr().err
    ids = [entry["id"] for entry in lines_of(out / "examples.jsonl")]
    assert ids == [row["id"] for row in rows + other_rows]
    mixed = input_with(tmp_path, [other_rows[0], scored_row(hotpot_rows[5])], b"", name="mixed.jsonl")
    assert pleias_rl(["critique", str(mixed), "--out-dir", str(out), "--no-progress"]) == 0
    assert f"resuming {out}: 1 rows already done (by id) are skipped" in capsys.readouterr().err
    assert [entry["id"] for entry in lines_of(out / "examples.jsonl")][-1] == hotpot_rows[5]["id"]


def test_repeated_ids_are_named(rows, tmp_path, capsys):
    path = input_with(tmp_path, [rows[0], rows[1], rows[0]], b"")
    assert pleias_rl(["critique", str(path), "--out-dir", str(tmp_path / "o"), "--no-progress"]) == 1
    assert (f"skipped {path}:4: field id: {rows[0]['id']!r} repeats line 1 (ids must be unique: "
            "resuming goes by id)") in capsys.readouterr().err


def test_internal_error_and_usage_exit_codes(monkeypatch, capsys):
    import pleias_rl.rewards.cli as score_cli

    def broken(argv):
        raise RuntimeError("a bug")

    monkeypatch.setattr(score_cli, "main", broken)
    assert pleias_rl(["score", "x.jsonl"]) == 5
    err = capsys.readouterr().err
    assert "RuntimeError: a bug" in err and "pleias-rl score: internal error (exit 5)" in err
    assert pleias_rl(["no-such-command"]) == 2
    assert pleias_rl(["eval", "--compare", "/nonexistent-run", "--out-dir", "/tmp/never"]) == 2
    assert "summary.json not found" in capsys.readouterr().err


def test_a_command_without_the_train_extra_names_it():
    block = "import sys\nfor name in ('torch', 'transformers', 'trl'): sys.modules[name] = None\n"
    done = subprocess.run([sys.executable, "-c", block + "from pleias_rl.cli import main; sys.exit(main())",
                           "grpo", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr == ("pleias-rl grpo needs the training extra (trl is not installed): "
                           "pip install 'pleias-rl[train]'\n")
