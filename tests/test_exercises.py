"""Adversarial exercises: rates on 1,000 rows, determinism, id remapping against gold sentences."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest
from hypothesis import given, strategies as st

from pleias_rl.data.exercises import (ExerciseOptions, apply_exercises, drop_sources, reorder_sources,
                            shuffle_sources, translate_sources)

ROWS = 1000


def tag(text: str, language: str) -> str:
    """A deterministic stand-in translator: marks every piece it translates."""
    return f"[{language}]{text}"


@pytest.fixture(scope="module")
def thousand_rows(hotpot_rows: list[dict]) -> list[dict]:
    rows = []
    for copy in range(ROWS // len(hotpot_rows)):
        for row in hotpot_rows:
            rows.append({**row, "id": f"{row['id']}-{copy}", "query": f"{row['query']} ({copy})"})
    return rows


def within(count: int, rate: float, total: int = ROWS) -> bool:
    """``count`` is within four standard deviations of a Binomial(total, rate)."""
    return abs(count - rate * total) <= 4 * math.sqrt(total * rate * (1 - rate))


def exercise_counts(rows: list[dict]) -> Counter:
    return Counter(name for row in rows for name in row["meta"]["exercises"])


def assert_gold_consistent(row: dict, original: dict) -> None:
    """Every supporting sentence still sits in the source its id names, and ids agree."""
    for source_id, sentence in row["meta"]["supporting_sentences"]:
        assert sentence in row["sources"][source_id - 1]["text"]
        assert source_id in row["supporting_ids"]
    assert {s for _, s in row["meta"]["supporting_sentences"]} == \
        {s for _, s in original["meta"]["supporting_sentences"]}
    kept_titles = {row["sources"][i - 1]["metadata"]["title"] for i in row["supporting_ids"]}
    gold_titles = {original["sources"][i - 1]["metadata"]["title"] for i in original["supporting_ids"]}
    assert kept_titles == gold_titles


def test_default_rates_on_1000_rows(thousand_rows: list[dict]) -> None:
    out = list(apply_exercises(thousand_rows, ExerciseOptions(translator=tag)))
    counts = exercise_counts(out)
    assert counts["drop"] == ROWS
    assert within(counts["shuffle"], 0.5)
    assert within(counts["refusal"], 0.05)
    assert within(counts["translate_query"] + counts["translate_sources"], 0.10)
    assert within(counts["translate_query"], 0.05) and within(counts["translate_sources"], 0.05)
    assert all(1 <= len(r["sources"]) <= 10 for r in out)
    sizes = Counter(len(r["sources"]) for r in out)
    assert set(sizes) == set(range(2, 11))  # supporting (2 per HotpotQA row) always kept


def test_same_seed_same_rows_other_seed_other_rows(thousand_rows: list[dict]) -> None:
    options = ExerciseOptions(seed=7, translator=tag)
    first = list(apply_exercises(thousand_rows[:200], options))
    second = list(apply_exercises(thousand_rows[:200], options))
    other = list(apply_exercises(thousand_rows[:200], ExerciseOptions(seed=8, translator=tag)))
    assert first == second
    assert first != other


def test_shuffle_and_drop_remap_against_gold_sentences(thousand_rows: list[dict]) -> None:
    options = ExerciseOptions(refusal_rate=0.0, language_rate=0.0, max_sources=4)
    for original, row in zip(thousand_rows, apply_exercises(thousand_rows, options)):
        assert row["answerable"]
        assert_gold_consistent(row, original)
        assert len(row["sources"]) <= max(4, len(original["supporting_ids"]))


def test_dropping_supporting_makes_rows_unanswerable(thousand_rows: list[dict]) -> None:
    options = ExerciseOptions(drop_supporting_rate=1.0, shuffle_rate=0.0, refusal_rate=0.0)
    out = list(apply_exercises(thousand_rows, options))
    lost = [r for r in out if "drop_supporting" in r["meta"]["exercises"]]
    assert len(lost) > ROWS // 2
    for row in lost:
        assert row["answerable"] is False and row["answer"] is None
        assert row["supporting_ids"] == [] and row["meta"]["supporting_sentences"] == []
    for original, row in zip(thousand_rows, out):
        if row["answerable"]:
            assert_gold_consistent(row, original)


def test_refusal_swaps_in_another_rows_query(thousand_rows: list[dict]) -> None:
    queries = {row["query"]: row["id"] for row in thousand_rows}
    options = ExerciseOptions(refusal_rate=0.5, shuffle_rate=0.0, drop_sources=False)
    out = list(apply_exercises(thousand_rows, options))
    refused = [(o, r) for o, r in zip(thousand_rows, out) if "refusal" in r["meta"]["exercises"]]
    assert within(len(refused), 0.5)
    for original, row in refused:
        assert row["query"] != original["query"] and queries[row["query"]] != original["id"]
        assert row["answerable"] is False and row["answer"] is None and row["answer_aliases"] == []
        assert row["sources"] == original["sources"]


def test_language_switching_records_what_was_translated(thousand_rows: list[dict]) -> None:
    options = ExerciseOptions(language_rate=1.0, refusal_rate=0.0, drop_sources=False, translator=tag)
    for original, row in zip(thousand_rows[:300], apply_exercises(thousand_rows[:300], options)):
        translation = row["meta"]["translation"]
        assert translation["language"] in options.languages
        if translation["query"]:
            assert row["query"] == f"[{translation['language']}]{original['query']}"
            assert row["language"] == translation["language"] and translation["source_ids"] == []
        else:
            assert row["language"] == "en" and translation["source_ids"]
            for source_id in translation["source_ids"]:
                assert row["sources"][source_id - 1]["text"].startswith(f"[{translation['language']}]")
            for source_id, sentence in row["meta"]["supporting_sentences"]:
                assert sentence in row["sources"][source_id - 1]["text"]
                assert sentence.startswith("[") == (source_id in translation["source_ids"])


def test_language_switching_needs_a_translator(thousand_rows: list[dict]) -> None:
    out = list(apply_exercises(thousand_rows[:100], ExerciseOptions(language_rate=1.0)))
    assert not any(r["meta"]["translation"]["language"] for r in out)


def test_translated_source_keeps_supporting_sentences_literal(hotpot_rows: list[dict]) -> None:
    row = hotpot_rows[0]
    out = translate_sources(row, random.Random(1), "fr", lambda text, language: text.upper())
    for source_id in out["meta"]["translation"]["source_ids"]:
        assert out["sources"][source_id - 1]["text"] == row["sources"][source_id - 1]["text"].upper()
    assert [s for _, s in out["meta"]["supporting_sentences"]] == [
        s.upper() if i in out["meta"]["translation"]["source_ids"] else s
        for i, s in row["meta"]["supporting_sentences"]]


@given(st.randoms(use_true_random=False), st.integers(1, 10))
def test_drop_then_shuffle_keeps_gold_where_it_was(rng: random.Random, max_sources: int) -> None:
    titles = [f"T{i}" for i in range(1, 11)]
    row = {"sources": [{"text": f"Fact {t}.", "metadata": {"title": t}} for t in titles],
           "supporting_ids": [3, 8], "answerable": True, "answer": "x", "answer_aliases": [],
           "meta": {"supporting_sentences": [[8, "Fact T8."], [3, "Fact T3."]], "exercises": [],
                    "translation": {"language": "", "query": False, "source_ids": []}}}
    out = shuffle_sources(drop_sources(row, rng, max_sources), rng)
    assert_gold_consistent(out, row)
    assert [s for _, s in out["meta"]["supporting_sentences"]] == ["Fact T8.", "Fact T3."]


def test_reorder_drops_ids_of_removed_sources() -> None:
    row = {"sources": ["a", "b", "c"], "supporting_ids": [1, 2],
           "meta": {"supporting_sentences": [[1, "a"], [2, "b"]], "exercises": [],
                    "translation": {"language": "fr", "query": False, "source_ids": [1, 3]}}}
    out = reorder_sources(row, [3, 1])
    assert out["supporting_ids"] == [2] and out["meta"]["supporting_sentences"] == [[2, "a"]]
    assert out["meta"]["translation"]["source_ids"] == [1, 2]
    assert row["meta"]["supporting_sentences"] == [[1, "a"], [2, "b"]]  # input untouched
