"""pleias_rl.data.language and pleias_rl.rewards.language: detection, neutral short texts, refs ignored, accuracy."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pleias_rl.data.format import format_ref, render_completion
from pleias_rl.data.language import MIN_LETTERS, detect_language, has_letters, language_code, language_name
from pleias_rl.rewards.language import MAX_VOWELLESS_SHARE, WRONG_LINE_CREDIT, _vowelless, language_reward

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



def load_attacks():
    path = BENCHMARK.parent / "language_attacks.py"
    spec = importlib.util.spec_from_file_location("language_attacks", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_language_attack_scores_zero_on_real_rows():
    attacks = load_attacks()
    scores = attacks.score_by_kind(attacks.attack_cases(attacks.shipped_rows(20)))
    assert len(scores) == 8 and all(len(values) == 20 for values in scores.values())
    for kind, values in scores.items():
        allowed = {0.0, None} if kind.startswith("gibberish") else {0.0}
        assert set(values) <= allowed, kind


def test_honest_controls_keep_full_credit_on_real_rows():
    attacks = load_attacks()
    scores = attacks.score_by_kind(attacks.honest_cases(attacks.shipped_rows(20)))
    for kind in ("supporting_sentence", "foreign_quote", "translated_answer"):
        assert sum(value or 0.0 for value in scores[kind]) / len(scores[kind]) >= 0.95, kind
    assert 0.0 not in scores["short_answer"]


QUERY = {"query": "Where does the A5117 road run?", "language": "en",
         "sources": ["The A5117 is a road in Cheshire, England. It runs between Shotwick and Helsby."]}


@pytest.mark.parametrize(("answer", "failed_check"), [
    ("Дорога проходит между Шотвиком и Хелсби через весь Чешир, the and of is.", "script"),
    ("Η οδός A5117 βρίσκεται στο Τσέσαϊρ και συνδέει δύο πόλεις.", "script"),
    ("这条路在柴郡，连接两个城镇 and the of it.", "script"),
    ("Mae'r ffordd yn rhedeg rhwng Shotwick a Helsby yng Nghaer.", "other_language"),
    ("Xkrtz bvwlq mnprst gzhkl vbnm trqwz plkjh.", "gibberish"),
    ("El who cantant be va she néixer but en this un this poble they petit a del the nord of país.", "padding"),
])
def test_out_of_set_answers_fail_their_named_check(answer, failed_check):
    score, diagnostics = language_reward.explain(completion(answer, "English"), QUERY)
    assert score == 0.0
    assert list(diagnostics["checks"])[-1] == failed_check and diagnostics["checks"][failed_check] != "ok"
    assert diagnostics["answer_language"] is not None and diagnostics["reason"]


@pytest.mark.parametrize("answer", [
    "The A5117 runs between Shotwick and Helsby in Cheshire.",
    'The road runs between Shotwick and Helsby, "entre Shotwick et Helsby" in French sources.',
    "The answer is Georg Philipp Telemann, born 1681 in Magdeburg.",
    "It runs for 12 km (7.5 mi) between Shotwick and Helsby.",
])
def test_honest_english_answers_keep_full_credit(answer):
    row = {**QUERY, "sources": QUERY["sources"] + ["Georg Philipp Telemann was born in Magdeburg."]}
    score, diagnostics = language_reward.explain(completion(answer, "English"), row)
    assert score == 1.0, diagnostics
    assert set(diagnostics["checks"].values()) == {"ok"}


def test_quote_in_another_language_is_stripped_before_detection():
    answer = "The road runs between two towns" + format_ref(1, "Дорога проходит между двумя городами Чешира") + "."
    assert language_reward.explain(completion(answer, "English"), QUERY)[0] == 1.0


TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=200)


@settings(max_examples=300, deadline=None)
@given(answer=TEXT, language=st.one_of(st.none(), st.sampled_from(["en", "fr", "Latin", "Klingon", "", "xx"])),
       query=st.one_of(st.none(), TEXT), sources=st.lists(TEXT, max_size=3))
def test_language_reward_never_raises_and_stays_in_range(answer, language, query, sources):
    row = {"query": query, "language": language, "sources": sources}
    for text in (completion(answer, "English"), answer, "English<|language_end|><|answer_start|>" + answer):
        score, diagnostics = language_reward.explain(text, row)
        assert score is None or 0.0 <= score <= 1.0
        assert isinstance(diagnostics, dict)


@settings(max_examples=200, deadline=None)
@given(words=st.lists(st.text(alphabet="bcdfghjklmnpqrstvwxz", min_size=3, max_size=9), min_size=6, max_size=14))
def test_consonant_gibberish_never_matches(words):
    score = language_reward.explain(completion(" ".join(words).capitalize() + ".", "English"), QUERY)[0]
    assert score in (0.0, None)


@pytest.mark.parametrize(("answer", "score"), [
    ("The answer is 1924.", 1.0), ("It was built in 1998.", 1.0),
    ("La réponse est 1924.", 0.0), ("Sa réponse: 1924.", None), ("Ответ: 1924.", None), ("Xkcd brr 1924.", None),
])
def test_short_answers_are_a_match_or_not_judged_never_zero(answer, score):
    assert language_reward.explain(completion(answer, "English"), QUERY)[0] == score


MIXED_TEXT = st.text(alphabet="ab xyzBCD1_.,'’÷×ßéøąЖ٣\u0301\u200b-", max_size=60)


@settings(max_examples=300, deadline=None)
@given(MIXED_TEXT, st.integers(min_value=0, max_value=14))
def test_has_letters_counts_every_letter_of_any_script(text, count):
    assert has_letters(text, count) == (len(re.findall(r"[^\W\d_]", text)) >= count)


@settings(max_examples=300, deadline=None)
@given(MIXED_TEXT)
def test_vowelless_judges_every_lower_case_run_of_three_letters(text):
    runs = [run for run in re.findall(r"(?<![^\W\d_])[a-zß-ÿ][^\W\d_]*", text) if len(run) >= 3]
    vowelless = sum(1 for run in runs if not set(run) & set("aeiouyàáâãäåæèéêëìíîïòóôõöøùúûüýÿąęœ"))
    assert _vowelless(text) == (vowelless >= 2 and vowelless / len(runs) > MAX_VOWELLESS_SHARE)
