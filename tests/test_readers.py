"""Readers on fixtures in each dataset's real layout; streaming; layout detection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from pleias_rl.data.readers import (RecordError, convert_record, iter_records, quotable_pieces,
                          sentence_segments, split_sentences)
from pleias_rl.data.schema import BadLine, validate_row

FIXTURES = Path(__file__).parent / "fixtures"
RAW = Path(__file__).resolve().parent.parent / "data" / "samples" / "raw"
ROW_KEYS = ["id", "query", "sources", "language", "answer", "answer_aliases", "supporting_ids",
            "answerable", "meta"]
META_KEYS = ["dataset", "id", "type", "level", "supporting_sentences", "exercises", "translation"]


def rows_of(path: Path, dataset: str = "auto") -> list[dict]:
    return [convert_record(record, dataset) for _, record in iter_records(path)]


def assert_evidence_is_literal(row: dict) -> None:
    for source_id, sentence in row["meta"]["supporting_sentences"]:
        assert source_id in row["supporting_ids"]
        assert sentence in row["sources"][source_id - 1]["text"]


def assert_row_shape(row: dict) -> None:
    assert list(row)[:len(ROW_KEYS)] == ROW_KEYS
    assert list(row["meta"]) == META_KEYS
    assert all(set(s) == {"text", "metadata"} and set(s["metadata"]) == {"title"} for s in row["sources"])
    validate_row(row)


def test_hotpotqa_original_layout(hotpot_rows: list[dict]) -> None:
    assert len(hotpot_rows) == 100
    first = hotpot_rows[0]
    assert first["id"] == "5a77ec115542992a6e59dff7"
    assert first["answer"] == "a spirit" and first["answerable"] and first["language"] == "en"
    assert [s["metadata"]["title"] for s in first["sources"]][:2] == ["Demon Dice", "Demon algorithm"]
    assert first["supporting_ids"] == [6, 10]
    assert first["meta"]["type"] == "bridge" and first["meta"]["level"] == "easy"
    for row in hotpot_rows:
        assert_row_shape(row)
        assert_evidence_is_literal(row)
        assert row["supporting_ids"]


def test_hotpotqa_hub_layout_matches_original(hotpot_rows: list[dict]) -> None:
    hub_rows = rows_of(FIXTURES / "hotpotqa_hf_layout.jsonl", "hotpotqa")
    assert len(hub_rows) == 3
    for hub, original in zip(hub_rows, hotpot_rows):
        assert hub == original


def test_2wiki_original_layout() -> None:
    rows = rows_of(FIXTURES / "2wikimultihopqa.json")
    assert [r["meta"]["dataset"] for r in rows] == ["2wiki", "2wiki"]
    assert [r["meta"]["type"] for r in rows] == ["compositional", "comparison"]
    assert rows[0]["answer"] == "Małgorzata Braunek"
    assert rows[0]["supporting_ids"] == [1, 3]
    assert rows[0]["meta"]["supporting_sentences"] == [
        [3, "Polish-Russian War (Wojna polsko-ruska) is a 2009 Polish film directed by Xawery Żuławski "
            "based on the novel Polish-Russian War under the white-red flag by Dorota Masłowska."],
        [1, "He is the son of actress Małgorzata Braunek and director Andrzej Żuławski."]]
    for row in rows:
        assert_row_shape(row)
        assert_evidence_is_literal(row)


def test_musique_answerable() -> None:
    rows = rows_of(RAW / "musique_train_sample100.json")
    assert len(rows) == 100
    first = rows[0]
    assert first["answer"] == "G. Stanley Hall" and first["answer_aliases"] == ["Stanley Hall"]
    assert len(first["sources"]) == 20 and first["supporting_ids"] == [7, 11]
    assert first["meta"]["type"] == "2hop"
    for row in rows:
        assert_row_shape(row)
        assert_evidence_is_literal(row)
        assert len(row["meta"]["supporting_sentences"]) == len(row["supporting_ids"])


def test_musique_unanswerable() -> None:
    rows = rows_of(FIXTURES / "musique_unanswerable.jsonl", "musique")
    assert len(rows) == 2
    for row in rows:
        assert_row_shape(row)
        assert row["answerable"] is False
        assert row["answer"] is None and row["answer_aliases"] == []
        assert row["supporting_ids"] == [] and row["meta"]["supporting_sentences"] == []


def test_rag_jsonl_rows(tmp_path: Path) -> None:
    path = tmp_path / "rag.jsonl"
    path.write_text(json.dumps({"id": "r1", "query": "Dans quelle ville se trouve la gare ?", "sources": [
        "Helsby est un village.", {"text": "Autre.", "metadata": {"title": "T"}}],
        "answer": "Helsby", "supporting_ids": [1], "custom": 7, "completion": "x"}) + "\n")
    (row,) = rows_of(path, "rag-jsonl")
    assert row["language"] == "fr"
    assert row["sources"][1] == {"text": "Autre.", "metadata": {"title": "T"}}
    assert row["custom"] == 7 and "completion" not in row
    assert row["meta"]["dataset"] == "rag-jsonl"


def test_layout_mismatch_and_missing_keys_raise() -> None:
    with pytest.raises(RecordError, match="musique layout, not hotpotqa"):
        convert_record({"paragraphs": [], "question": "?"}, "hotpotqa")
    with pytest.raises(RecordError, match="missing key 'question'"):
        convert_record({"paragraphs": [{"paragraph_text": "x"}]}, "musique")
    with pytest.raises(RecordError, match="unsupported layout"):
        convert_record({"foo": 1})
    with pytest.raises(RecordError, match="field sources"):
        convert_record({"query": "q", "sources": "not a list"})


def test_json_array_streams_like_json_lines(tmp_path: Path) -> None:
    records = json.loads((RAW / "hotpotqa_train_sample100.json").read_text())
    lines = tmp_path / "h.jsonl"
    lines.write_text("".join(json.dumps(r) + "\n" for r in records))
    array = tmp_path / "h.json"
    array.write_text("[\n" + ",\n".join(json.dumps(r) for r in records) + "\n]\n")
    from_lines = list(iter_records(lines))
    from_array = list(iter_records(array))
    assert [n for n, _ in from_lines] == list(range(1, 101))
    assert [n for n, _ in from_array] == list(range(2, 102))
    assert [r for _, r in from_array] == records == [r for _, r in from_lines]


def test_json_array_larger_than_a_chunk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pleias_rl.data.readers

    monkeypatch.setattr(pleias_rl.data.readers, "_CHUNK_CHARS", 64)
    records = [{"text": "x" * 300, "n": i} for i in range(20)]
    path = tmp_path / "a.json"
    path.write_text(json.dumps(records, indent=1))
    assert [r for _, r in iter_records(path)] == records


def test_bad_lines_name_their_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"query": "q", "sources": ["s"]}\n\n{oops\n[1, 2]\n')
    read = list(iter_records(path))
    assert [n for n, _ in read] == [1, 3, 4]
    assert isinstance(read[1][1], BadLine) and str(read[1][1]).startswith(f"{path}:3: not valid JSON")
    broken = tmp_path / "broken.json"
    broken.write_text('[{"a": 1},\n{"a": 2\n')
    read = list(iter_records(broken))
    assert read[0] == (1, {"a": 1}) and isinstance(read[1][1], BadLine)


def test_datasets_load_dataset_reader_on_local_files() -> None:
    from pleias_rl.data.build import iter_hub_records

    records = [record for _, record in iter_hub_records(
        "json", data_files=str(FIXTURES / "hotpotqa_hf_layout.jsonl"))]
    rows = [convert_record(record) for record in records]
    assert [r["id"] for r in rows] == [r["id"] for r in rows_of(FIXTURES / "hotpotqa_hf_layout.jsonl")]
    assert rows[0]["supporting_ids"] == [6, 10]


@given(st.lists(st.sampled_from(["Ann was here.", " Bob left!", " e.g. x", " Mr. Smith came.",
                                 " 1990 was a year.", "\n", " (Fine.)", " ok"]), max_size=12))
def test_sentence_splits_join_back(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert "".join(split_sentences(text)) == text
    keep = [p.strip() for p in pieces[::3] if p.strip()]
    segments = sentence_segments(text, keep)
    assert "".join(s for s, _ in segments) == text


def test_quotable_pieces_are_literal_and_short() -> None:
    text = "Code Created Region " + " ".join(f"{n} 1947 Cleveland" for n in range(60)) + " Toledo"
    (piece,) = quotable_pieces(text, "Toledo")
    assert piece in text and piece.endswith("Toledo") and len(piece.split()) == 40


@pytest.mark.parametrize("path, dataset", [
    (RAW / "hotpotqa_train_sample100.json", "hotpotqa"), (FIXTURES / "2wikimultihopqa.json", "2wiki"),
    (RAW / "musique_train_sample100.json", "musique"), (FIXTURES / "musique_unanswerable.jsonl", "musique")])
def test_titles_lead_each_source_by_default_and_can_be_turned_off(path: Path, dataset: str) -> None:
    titled, plain = rows_of(path, dataset), [convert_record(record, dataset, titles=False)
                                             for _, record in iter_records(path)]
    assert len(titled) == len(plain) > 0
    for with_title, without in zip(titled, plain):
        for source, bare in zip(with_title["sources"], without["sources"]):
            title = bare["metadata"]["title"]
            assert source["metadata"] == bare["metadata"]
            assert source["text"] == (f"{title}: {bare['text']}" if title else bare["text"])
        assert with_title["supporting_ids"] == without["supporting_ids"]
        assert with_title["meta"]["supporting_sentences"] == without["meta"]["supporting_sentences"]
        assert_evidence_is_literal(with_title)


def test_title_renders_as_in_the_report() -> None:
    (row,) = [convert_record({"_id": "h", "question": "Which village?", "answer": "Helsby",
                              "supporting_facts": [["Helsby", 0]],
                              "context": [["Helsby", ["Helsby is a village in Cheshire."]]]})]
    assert row["sources"][0]["text"] == "Helsby: Helsby is a village in Cheshire."
    assert row["supporting_ids"] == [1]
    assert row["meta"]["supporting_sentences"] == [[1, "Helsby is a village in Cheshire."]]


def test_rag_jsonl_sources_are_never_titled() -> None:
    row = convert_record({"query": "q", "sources": [{"text": "Body.", "metadata": {"title": "T"}}]})
    assert row["sources"][0]["text"] == "Body."


def test_json_array_bad_elements_are_named(tmp_path: Path) -> None:
    path = tmp_path / "records.json"
    path.write_bytes(b'[{"a": "caf\xe9"},\n {"b": "\\ud800"},\n {"c": 1}]')
    read = [(line, str(record) if isinstance(record, BadLine) else record) for line, record in iter_records(path)]
    assert read == [(1, f"{path}:1: field a: not valid UTF-8 (byte 0xe9)"),
                    (2, f"{path}:2: field b: lone surrogate U+D800 (valid JSON, but not encodable as UTF-8)"),
                    (3, {"c": 1})]
    deep = tmp_path / "deep.json"
    deep.write_bytes(b'[{"a": 1},\n' + b"[" * 100_000 + b"]" * 100_000 + b"]")
    assert [str(r) if isinstance(r, BadLine) else r for _, r in iter_records(deep)] == [
        {"a": 1}, f"{deep}:2: nesting too deep to decode"]
