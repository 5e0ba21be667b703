"""``pleias-rl data build|stats``, the Python API, and the shipped sample sets."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from pleias_rl.data.budget import estimate_tokens
from pleias_rl.data.build import BuildOptions, BuildReport, build_dataset, build_rows, file_records
from pleias_rl.data.cli import main
from pleias_rl.data.exercises import ExerciseOptions
from pleias_rl.cli import main as pleias_rl

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "data" / "samples"
RAW = SAMPLES / "raw"
HOTPOT = RAW / "hotpotqa_train_sample100.json"
MUSIQUE = RAW / "musique_train_sample100.json"


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def readme_script() -> str:
    """The shell block of data/samples/README.md that builds the shipped sets."""
    return (SAMPLES / "README.md").read_text().split("```\n", 2)[1].split("```")[0]


def test_build_twice_gives_identical_files(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    for name in ("a", "b"):
        assert pleias_rl(["data", "build", "--format", "hotpotqa", "--input", str(HOTPOT),
                          "--output", str(tmp_path / f"{name}.jsonl")]) == 0
    first, second = (tmp_path / "a.jsonl").read_bytes(), (tmp_path / "b.jsonl").read_bytes()
    assert first == second and len(first.splitlines()) == 100
    assert "read 100 records, wrote 100 rows; skipped 0 malformed" in capsys.readouterr().err
    assert main(["build", "--input", str(HOTPOT), "--output", str(tmp_path / "c.jsonl"),
                 "--seed", "99"]) == 0
    assert (tmp_path / "c.jsonl").read_bytes() != first


def test_malformed_records_are_named_and_skipped_or_stop(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    records = json.loads(HOTPOT.read_text())[:5]
    lines = [json.dumps(r) for r in records]
    lines[1] = "{not json"
    lines[3] = json.dumps({"paragraphs": [], "question": "?"})
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.jsonl"
    assert main(["build", "--format", "hotpotqa", "--input", str(source), "--output", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"skipped {source}:2: not valid JSON" in err
    assert f"skipped {source}:4: record has the musique layout, not hotpotqa" in err
    assert "read 5 records, wrote 3 rows; skipped 2 malformed" in err
    assert [r["id"] for r in read(out)] == [records[i]["_id"] for i in (0, 2, 4)]
    stopped = tmp_path / "stopped.jsonl"
    assert main(["build", "--format", "hotpotqa", "--input", str(source), "--output", str(stopped),
                 "--on-error", "stop"]) == 4
    assert f"error: {source}:2: not valid JSON" in capsys.readouterr().err
    assert not stopped.exists() and not list(tmp_path.glob("*.partial"))


def test_build_through_datasets_load_dataset(tmp_path: Path) -> None:
    hub_layout = Path(__file__).parent / "fixtures" / "hotpotqa_hf_layout.jsonl"
    assert main(["build", "--hub", "json", "--hub-data-files", str(hub_layout), "--no-exercises",
                 "--output", str(tmp_path / "hub.jsonl")]) == 0
    assert main(["build", "--input", str(hub_layout), "--no-exercises",
                 "--output", str(tmp_path / "file.jsonl")]) == 0
    assert (tmp_path / "hub.jsonl").read_bytes() == (tmp_path / "file.jsonl").read_bytes()


def test_argument_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["build", "--output", str(tmp_path / "x.jsonl")]) == 2
    assert main(["build", "--input", str(tmp_path / "missing.json"), "--output", str(tmp_path / "x.jsonl")]) == 2
    with pytest.raises(SystemExit) as exit_info:
        main(["build", "--format", "nq", "--input", "x", "--output", "y"])
    assert exit_info.value.code == 2


def test_over_budget_rows_are_reported(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["build", "--input", str(HOTPOT), "--output", str(tmp_path / "o.jsonl"),
                 "--max-prompt-tokens", "150", "--no-exercises"]) == 0
    err = capsys.readouterr().err
    skipped = len(read(tmp_path / "o.jsonl"))
    assert f"wrote {skipped} rows; skipped 0 malformed, 0 in an unsupported layout, {100 - skipped} over budget" in err
    assert 0 < skipped < 100 and "cannot fit 150" in err


def test_parquet_and_datasets_outputs(tmp_path: Path) -> None:
    from datasets import load_from_disk, load_dataset

    args = ["build", "--input", str(MUSIQUE), "--limit", "20"]
    assert main([*args, "--output", str(tmp_path / "a.parquet")]) == 0
    assert main([*args, "--output", str(tmp_path / "b.parquet")]) == 0
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    assert main([*args, "--output", str(tmp_path / "ds")]) == 0
    assert main([*args, "--output", str(tmp_path / "rows.jsonl")]) == 0
    from_parquet = load_dataset("parquet", data_files=str(tmp_path / "a.parquet"), split="train")
    from_disk = load_from_disk(str(tmp_path / "ds"))
    expected = read(tmp_path / "rows.jsonl")
    assert from_parquet.num_rows == from_disk.num_rows == 20
    assert from_disk[0]["sources"] == expected[0]["sources"]
    assert from_parquet["id"] == [r["id"] for r in expected]


def test_python_api_build_dataset_and_streaming() -> None:
    report = BuildReport()
    dataset = build_dataset([HOTPOT, MUSIQUE], report=report, sft=True,
                            exercises=ExerciseOptions(refusal_rate=0.0), max_prompt_tokens=800)
    assert dataset.num_rows == report.written == 200 - report.no_evidence - report.over_budget
    assert set(dataset.column_names) >= {"prompt", "completion", "sources", "supporting_ids", "meta"}
    streamed = list(build_rows(file_records([HOTPOT]), BuildOptions(limit=7)))
    assert len(streamed) == 7 and all(r["prompt"].endswith("<|language_start|>\n") for r in streamed)


def test_stats_prints_counts(capsys: pytest.CaptureFixture) -> None:
    assert main(["stats", str(SAMPLES / "rl.jsonl"), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    rows = read(SAMPLES / "rl.jsonl")
    assert stats["rows"] == len(rows) and stats["bad_lines"] == 0
    assert stats["answerable_share"] == round(sum(r["answerable"] for r in rows) / len(rows), 4)
    assert stats["languages"] == {"en": len(rows)}
    assert stats["prompt_tokens"]["p100"] == max(estimate_tokens(r["prompt"]) for r in rows)
    assert main(["stats", str(SAMPLES / "rl.jsonl")]) == 0
    assert "prompt tokens      p50" in capsys.readouterr().out


def test_shipped_samples_rebuild_byte_for_byte(tmp_path: Path) -> None:
    script = readme_script()
    assert script.count("pleias-rl data build") == 3
    script = script.replace("--output data/samples/", f"--output {tmp_path}/")
    done = subprocess.run(["bash", "-euc", script], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    for name in ("rl", "sft", "heldout"):
        assert (tmp_path / f"{name}.jsonl").read_bytes() == (SAMPLES / f"{name}.jsonl").read_bytes()


def test_shipped_samples_shape_and_split() -> None:
    rl, sft, heldout = (read(SAMPLES / f"{name}.jsonl") for name in ("rl", "sft", "heldout"))
    assert 100 <= len(rl) <= 160 and len(sft) == len(rl) and len(heldout) >= 40
    assert not {r["meta"]["id"] for r in heldout} & {r["meta"]["id"] for r in rl + sft}
    assert {r["meta"]["dataset"] for r in rl} == {"hotpotqa", "musique"}
    for row in rl + sft:
        assert len(row["sources"]) <= 4 and estimate_tokens(row["prompt"]) <= 600
    for rows in (rl, sft, heldout):
        assert len({json.dumps(sorted(r)) for r in rows}) == 1  # same columns in every row
        assert len({json.dumps(sorted(r["meta"])) for r in rows}) == 1
    assert 0.02 <= sum(not r["answerable"] for r in rl) / len(rl) <= 0.12


def test_every_sft_target_scores_full_citation_and_format() -> None:
    from pleias_rl.rewards import citation_reward, format_reward

    rows = read(SAMPLES / "sft.jsonl")
    columns = {"completions": [r["completion"] for r in rows], "sources": [r["sources"] for r in rows],
               "query": [r["query"] for r in rows], "language": [r["language"] for r in rows]}
    assert citation_reward(**columns) == [1.0] * len(rows)
    assert format_reward(**columns) == [1.0] * len(rows)


def test_shipped_files_load_with_datasets() -> None:
    from datasets import load_dataset

    for name in ("rl", "sft", "heldout"):
        dataset = load_dataset("json", data_files=str(SAMPLES / f"{name}.jsonl"), split="train")
        assert dataset.num_rows == len(read(SAMPLES / f"{name}.jsonl"))
        assert dataset.features["sources"].feature["metadata"]["title"].dtype == "string"
        assert dataset[0]["sources"] == read(SAMPLES / f"{name}.jsonl")[0]["sources"]
