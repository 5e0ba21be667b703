"""Evaluation scoring and aggregation on the shipped HotpotQA sample: oracle vs wrong answers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pleias_rl.data.targets import oracle_completion
from pleias_rl.evaluation.generate import row_keys
from pleias_rl.evaluation.judge import GRADES, is_correct, parse_grade
from pleias_rl.evaluation.metrics import language_loss, summarise
from pleias_rl.evaluation.scoring import load_rewards, score_rows


@pytest.fixture(scope="module")
def rewards():
    return load_rewards()


def keyed(rows):
    pairs = list(enumerate(rows, start=1))
    return list(zip(row_keys(pairs), rows))


def oracle_rows(rows):
    return [{**row, "completion": oracle_completion(row)} for row in rows]


def wrong_rows(rows):
    """Each row answered with the next row's oracle (wrong answer, quotes from other sources)."""
    return [{**row, "completion": oracle_completion(rows[(i + 1) % len(rows)])} for i, row in enumerate(rows)]


def test_oracle_generations_score_near_perfect(hotpot_rows, rewards):
    summary = summarise(score_rows(keyed(oracle_rows(hotpot_rows)), rewards, progress=False))
    overall = summary["overall"]
    assert summary["n"] == 100 and summary["n_without_gold"] == 0
    assert overall["answer"]["contains"] == 1.0
    assert overall["rewards"]["answer"] == 1.0
    assert overall["rewards"]["citation"] >= 0.95
    assert overall["rewards"]["source_f1"] == 1.0
    assert overall["rag_eval"]["rag_rank"] >= 0.99
    assert overall["truncation_rate"] == 0.0
    assert summary["per_language"]["en"]["n"] == 100
    assert set(summary["per_type"]) == {"bridge", "comparison"}
    assert summary["per_dataset"]["hotpotqa"]["rewards"]["format"] == 1.0


def test_wrong_answers_score_near_zero(hotpot_rows, rewards):
    overall = summarise(score_rows(keyed(wrong_rows(hotpot_rows)), rewards, progress=False))["overall"]
    assert overall["answer"]["contains"] <= 0.05
    assert overall["rewards"]["answer"] <= 0.05
    assert overall["rewards"]["citation"] <= 0.05
    # Pleias' RAG-Eval is blind to quotes from the wrong document: only the alignment drops.
    assert overall["rag_eval"]["id_valid"] >= 0.95 and overall["rag_eval"]["sw_score"] < 0.5


def test_rows_without_gold_are_scored_for_what_applies_and_counted(hotpot_rows, rewards):
    rows = oracle_rows(hotpot_rows[:4])
    for row in rows[:2]:
        for key in ("answer", "answer_aliases", "supporting_ids", "answerable"):
            row.pop(key, None)
    records = score_rows(keyed(rows), rewards, progress=False)
    summary = summarise(records)
    assert summary["n_without_gold"] == 2
    assert records[0]["rewards"]["answer"] is None and records[0]["answer"] is None
    assert records[0]["rewards"]["citation"] == 1.0
    assert summary["overall"]["reward_counts"]["answer"] == 2
    assert summary["overall"]["reward_counts"]["format"] == 4


def test_truncated_completion_is_counted(hotpot_rows, rewards):
    row = hotpot_rows[0]
    cut = oracle_completion(row)[:300]
    records = score_rows(keyed([{**row, "completion": cut}, {**row, "completion": oracle_completion(row)}]),
                         rewards, progress=False)
    assert [r["truncated"] for r in records] == [True, False]
    assert summarise(records)["overall"]["truncation_rate"] == 0.5


def test_language_loss_uses_one_measure_for_every_language():
    records = ([{"language": "en", "judge": {"grade": "yes", "correct": True}}] * 4
               + [{"language": "fr", "judge": {"grade": "no", "correct": False}},
                  {"language": "fr", "judge": {"grade": "yes", "correct": True}}]
               + [{"language": "de", "judge": {"grade": "yes", "correct": True}}])
    loss = summarise(records)["language_loss"]
    assert loss["metric"] == "judge_accuracy"
    assert loss["english"] == 1.0 and loss["non_english_mean"] == 0.75
    assert loss["ratio"] == 0.75 and loss["loss"] == 0.25
    assert language_loss({"en": {"judge": {}, "answer": {}}}) is None


@given(st.text(max_size=80))
def test_parse_grade_never_raises_and_returns_a_grade_or_none(reply):
    assert parse_grade(reply) in (*GRADES, None)


@given(st.sampled_from(GRADES), st.sampled_from(["", "Grade: ", "**", " ", "The answer is "]), st.sampled_from(["", ".", "!", " because"]))
def test_parse_grade_reads_each_grade_in_common_wrappings(grade, prefix, suffix):
    assert parse_grade(prefix + grade.capitalize() + suffix) == grade


def test_dataset_rule_yes_only_except_musique():
    assert [is_correct(g, "hotpotqa") for g in GRADES] == [True, False, False, False]
    assert [is_correct(g, "2wiki") for g in GRADES] == [True, False, False, False]
    assert [is_correct(g, "musique") for g in GRADES] == [True, True, False, False]
