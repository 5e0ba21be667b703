"""``pleias-rl score``: every row in order with rewards + diagnostics, summary, bad lines."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pleias_rl.data.format import format_ref, render_completion
from pleias_rl.rewards.cli import main
from pleias_rl.rewards.registry import REGISTRY


def completion_for(row: dict) -> str:
    source_id, sentence = row["meta"]["supporting_sentences"][0]
    return render_completion(language="English", query_analysis="A lookup.", query_report="Trivial",
                             answer=f"The answer is {row['answer']}" + format_ref(source_id, sentence) + ".")


@pytest.fixture
def input_file(tmp_path, hotpot_rows):
    rows = [dict(row, completion=completion_for(row)) for row in hotpot_rows[:4]]
    rows[1] = {**rows[1], "extra_key": {"kept": True}}
    del rows[3]["completion"]
    lines = [json.dumps(rows[0]), json.dumps(rows[1]), "{not json", json.dumps({"query": "q"}),
             "", json.dumps(rows[2]), json.dumps(rows[3])]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, rows


def test_scores_every_row_in_order(input_file, tmp_path, capsys):
    path, rows = input_file
    out = tmp_path / "out.jsonl"
    assert main([str(path), "-o", str(out)]) == 1  # two malformed lines were skipped
    captured = capsys.readouterr()
    assert "in.jsonl:3: not valid JSON" in captured.err
    assert "in.jsonl:4: field sources" in captured.err
    scored = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in scored] == [r["id"] for r in rows]
    assert scored[1]["extra_key"] == {"kept": True} and "prompt" not in scored[0]
    for row in scored[:3]:
        assert list(row["rewards"]) == list(REGISTRY)
        assert row["rewards"]["format"] == 1.0 and row["rewards"]["answer"] == 1.0
        assert row["rewards"]["refusal"] == 1.0 and row["rewards"]["language"] == 1.0
        assert row["rewards"]["citation"] >= 0.95
        assert set(row["diagnostics"]) == set(REGISTRY)
    assert scored[3]["rewards"] == {name: None for name in REGISTRY}
    table = captured.out
    assert table.splitlines()[0].split() == ["reward", "scored", "n/a", "mean", "min", "max"]
    assert "format            3     1   1.000" in table
    assert "4 rows written, 2 malformed lines skipped" in table


def test_stdout_output_puts_summary_on_stderr(input_file, capsys):
    path, _ = input_file
    main([str(path), "--rewards", "format,answer"])
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert len(rows) == 4 and list(rows[0]["rewards"]) == ["format", "answer"]
    assert "rows written" in captured.err and "rows written" not in captured.out


def test_clean_file_exits_zero_and_usage_errors_exit_two(tmp_path, hotpot_rows, capsys):
    path = tmp_path / "clean.jsonl"
    path.write_text(json.dumps(dict(hotpot_rows[0], completion=completion_for(hotpot_rows[0]))) + "\n")
    assert main([str(path), "-o", str(tmp_path / "o.jsonl"), "--rewards", "format"]) == 0
    assert main([str(path), "--rewards", "format,accuracy"]) == 2
    assert "unknown reward 'accuracy'" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.jsonl")]) == 2


def test_own_reward_by_module_path(input_file, capsys):
    path, _ = input_file
    main([str(path), "--rewards", "format,custom_reward:Brevity"])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert list(rows[0]["rewards"]) == ["format", "brevity"] and "words" in rows[0]["diagnostics"]["brevity"]["metrics"]


def test_console_script(input_file, tmp_path):
    path, _ = input_file
    out = tmp_path / "cli.jsonl"
    result = subprocess.run([sys.executable, "-m", "pleias_rl.cli", "score", str(path), "-o", str(out),
                             "--rewards", "format,language"], capture_output=True, text=True)
    assert result.returncode == 1 and "language" in result.stdout
    assert len(out.read_text().splitlines()) == 4


def test_workers_give_the_same_output_in_input_order(tmp_path, hotpot_rows, capsys):
    """Several chunks (CHUNK_LINES each) across three processes, bad lines among them."""
    from pleias_rl.rewards.cli import CHUNK_LINES

    lines = []
    for index, row in enumerate(hotpot_rows * 4):
        completion = completion_for(row)
        lines.append(json.dumps(dict(row, id=f"r{index}", completion=completion[:len(completion) - index % 50])))
        if index % 97 == 0:
            lines.append('{"query": "q\\udc80", "sources": []}')
    assert len(lines) > 3 * CHUNK_LINES
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    outputs, errors = [], []
    for workers in ("1", "3"):
        out = tmp_path / f"out{workers}.jsonl"
        assert main([str(path), "-o", str(out), "--workers", workers]) == 1
        outputs.append(out.read_bytes())
        errors.append(capsys.readouterr())
    assert outputs[0] == outputs[1] and errors[0] == errors[1]
    assert [json.loads(line)["id"] for line in outputs[1].splitlines()] == [f"r{n}" for n in range(400)]
    assert errors[1].err.count("lone surrogate U+DC80") == 5
    with pytest.raises(SystemExit) as usage:
        main([str(path), "--workers", "0"])
    assert usage.value.code == 2 and "--workers: must be at least 1, got 0" in capsys.readouterr().err
