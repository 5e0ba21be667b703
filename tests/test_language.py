"""pleias_rl.data.language and pleias_rl.rewards.language: detection, neutral short texts, refs ignored, accuracy."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from pleias_rl.data.format import format_ref, render_completion
from pleias_rl.data.language import MIN_LETTERS, detect_language, language_code, language_name
from pleias_rl.rewards.language import WRONG_LINE_CREDIT, language_reward

BENCHMARK = Path(__file__).resolve().parent.parent / "benchmarks" / "language_accuracy.py"


def load_benchmark():
    spec = importlib.util.spec_from_file_location("language_accuracy", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def completion(answer: str, language: str = "French") -> str:
    return render_completion(language=language, query_analysis="Simple.", query_report="Trivial",
                             answer=answer)


def test_names_and_codes():
    assert [language_name(c) for c in ("en", "fr", "de", "it", "es", "pl", "pt", "la")] == [
        "English", "French", "German", "Italian", "Spanish", "Polish", "Portuguese", "Latin"]
    assert language_code("Portuguese") == "pt" and language_code("DE") == "de"
    assert language_code("Klingon") is None and language_code(None) is None


@pytest.mark.parametrize(("text", "code"), [
    ("Kto był pierwszym burmistrzem?", "pl"), ("Quis hanc urbem condidit?", "la"),
    ("Welche Mannschaft gewann den Pokal?", "de"), ("¿Quién pintó el techo?", "es"),
])
def test_detects_short_queries(text, code):
    detected, confidence = detect_language(text)
    assert detected == code and 0.5 < confidence <= 1.0


def test_too_short_is_neutral():
    assert detect_language("Helsby.") == (None, 0.0)
    assert detect_language("x" * (MIN_LETTERS - 1)) == (None, 0.0)
    assert detect_language(12) == (None, 0.0)


def test_refs_are_removed_before_detection():
    english_quote = format_ref(1, "The town was founded by merchants who settled near the harbour "
                                  "and built the first church in the old market square.")
    assert detect_language("La ville a été fondée par des marchands" + english_quote + ".")[0] == "fr"


def test_reward_scale():
    query = ["Quelle est la capitale du Pérou ?"]
    fr = "La capitale du Pérou est Lima, une grande ville."
    assert language_reward(completions=[completion(fr)], query=query) == [1.0]
    assert language_reward(completions=[completion(fr, "English")], query=query) == [WRONG_LINE_CREDIT]
    assert language_reward(completions=[completion("The capital of Peru is Lima.")], query=query) == [0.0]
    assert language_reward(completions=[completion("Lima.")], query=query) == [None]
    assert language_reward(completions=["French<|language_end|>"], query=query) == [0.0]


def test_row_language_wins_over_query():
    score, diagnostics = language_reward.explain(
        completion("Die Hauptstadt von Peru ist Lima.", "German"),
        {"query": "What is the capital of Peru?", "language": "de"})
    assert score == 1.0 and diagnostics["expected_from"] == "row"
    assert language_reward.explain(completion("x" * 30), {"query": "ok"})[0] is None


def test_benchmark_accuracy_per_language():
    benchmark = load_benchmark()
    accuracy = benchmark.accuracy_by_language(benchmark.reward_decides_match, benchmark.load_sentences())
    assert set(accuracy) == {"en", "fr", "de", "it", "es", "pl", "pt", "la"}
    assert min(accuracy.values()) >= 0.95


def test_fixture_queries_are_short():
    sentences = load_benchmark().load_sentences()
    lengths = [len(q) for lang in sentences.values() for q in lang["queries"]]
    assert min(lengths) >= 20 and sorted(lengths)[len(lengths) // 2] < 35
    assert all(len(lang["queries"]) >= 20 and len(lang["answers"]) >= 20 for lang in sentences.values())

