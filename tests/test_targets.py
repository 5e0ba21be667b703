"""Oracle completions (pleias_rl.data.targets) and seeded corruptions (pleias_rl.data.corruptions) on real rows."""

from __future__ import annotations

import pytest

from pleias_rl.data.corruptions import CORRUPTIONS, citation_cases, corrupt
from pleias_rl.data.format import parse_completion
from pleias_rl.data.targets import oracle_completion, sentences, supporting_evidence
from pleias_rl.rewards.citation import citation_reward
from pleias_rl.rewards.format import format_reward


@pytest.mark.parametrize("options", [{}, {"trivial": False}, {"elide": True},
                                     {"trivial": False, "elide": True}])
def test_every_oracle_target_scores_citation_and_format_1(hotpot_rows: list[dict],
                                                          options: dict) -> None:
    for row in hotpot_rows:
        completion = oracle_completion(row, **options)
        assert citation_reward.explain(completion, row)[0] == 1.0, row["id"]
        assert format_reward.explain(completion, row)[0] == 1.0, row["id"]


def test_oracle_quotes_each_supporting_sentence(hotpot_rows: list[dict]) -> None:
    row = hotpot_rows[0]
    parsed = parse_completion(oracle_completion(row))
    assert [(c.source_id, c.quote) for c in parsed.citations] == [
        (10, "In Akkadian and Sumerian mythology, it is associated with other demons like Gallu and Lilu."),
        (6, "A lilu or lilû is a masculine Akkadian word for a spirit, related to Alû, demon.")]
    assert parsed.language == "English" and parsed.is_trivial and parsed.errors == []
    assert parsed.answer.startswith("The answer is ")


def test_paths_elision_language_and_refusal(hotpot_rows: list[dict]) -> None:
    row = hotpot_rows[3]
    full = parse_completion(oracle_completion(row, trivial=False))
    assert [s.name for s in full.sections] == ["query_analysis", "query_report", "source_analysis",
                                               "source_report", "draft", "answer"]
    assert full.query_report == "Answerable" and full.source_report == "Extensive"
    elided = parse_completion(oracle_completion(row, elide=True))
    assert any("(…)" in c.quote for c in elided.citations)
    assert oracle_completion(row, language_name="French").startswith("French<|language_end|>")
    refusal = parse_completion(oracle_completion({**row, "answerable": False}))
    assert refusal.is_refusal and refusal.citations == []
    refusal_full = parse_completion(oracle_completion({**row, "answerable": False}, trivial=False))
    assert refusal_full.is_refusal and refusal_full.source_report == "Infeasible"


def test_special_tokens_in_evidence_are_neutralised_and_still_match() -> None:
    row = {"query": "What does <|answer_end|> do?", "sources": ["It ends </ref> the answer."],
           "meta": {"supporting_sentences": [[1, "It ends </ref> the answer."]]}}
    completion = oracle_completion(row)
    parsed = parse_completion(completion)
    assert parsed.errors == [] and len(parsed.citations) == 1
    assert citation_reward.explain(completion, row)[0] == 1.0


def test_supporting_evidence_skips_bad_entries_and_sentences_split() -> None:
    row = {"sources": ["a", "b"], "meta": {"supporting_sentences": [
        [1, "x"], [3, "y"], ["1", "z"], [2], [2, ""], [1, "x"], [2, " w "]]}}
    assert supporting_evidence(row) == [(1, "x"), (2, "w")]
    assert sentences("Mr. E. W. Scripps founded it in 1920. It grew. 3 staff.") == [
        "Mr. E. W. Scripps founded it in 1920.", "It grew.", "3 staff."]


def test_corruptions_are_deterministic_and_change_the_completion(hotpot_rows: list[dict]) -> None:
    row = hotpot_rows[3]
    honest = oracle_completion(row)
    for kind in CORRUPTIONS:
        first = corrupt(honest, row, kind, seed=7)
        assert first == corrupt(honest, row, kind, seed=7), kind
        assert first is None or first != honest, kind
    assert corrupt(honest, row, "fabricated", seed=1) != corrupt(honest, row, "fabricated", seed=2)
    with pytest.raises(KeyError, match="unknown corruption"):
        corrupt(honest, row, "nope")


def test_every_corruption_applies_to_most_real_rows(hotpot_rows: list[dict]) -> None:
    cases = citation_cases(hotpot_rows[:20])
    counts = {kind: len(pairs) for kind, pairs in cases.items()}
    assert counts.pop("honest_trivial") == 20 and counts.pop("fabricated") == 20
    assert counts.pop("honest_long") == 5  # rows with a supporting sentence of 30+ words
    assert all(count >= 16 for count in counts.values()), counts
