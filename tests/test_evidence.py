"""pleias_rl.rewards.evidence: each check on real sentences, and properties over random text."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from pleias_rl.data.format import format_ref, render_completion
from pleias_rl.data.targets import sentences
from pleias_rl.rewards.citation import citation_reward
from pleias_rl.rewards.evidence import (cuts_number, cuts_word, elision_flaw, meaning_changed,
                                        said_elsewhere, stitched_gap, unspecific, words_changed)
from pleias_rl.rewards.format import degenerate_sequence, has_content

WORDS = st.sampled_from("Ann Bob Chester road village built opened river bridge north old large "
                        "the a of in and was is by with 1990 2,500 3.5".split())
SENTENCE = st.lists(WORDS, min_size=6, max_size=14).map(lambda ws: " ".join(ws).capitalize() + ".")


def cited(source: str, quote: str) -> tuple[float, str]:
    completion = render_completion(language="English", query_analysis="A question.", query_report="Trivial",
                                   answer="It is so" + format_ref(1, quote) + ".")
    score, diagnostics = citation_reward.explain(completion, {"query": "Which one?", "sources": [source]})
    return score, diagnostics["refs"][0]["verdict"]


@settings(max_examples=80, deadline=None)
@given(st.lists(SENTENCE, min_size=1, max_size=4))
def test_quoting_a_whole_sentence_never_fires_a_placement_check(parts: list[str]) -> None:
    source = " ".join(parts)
    for sentence in sentences(source):
        start = source.find(sentence)
        assert elision_flaw(source, [(start, start + len(sentence))]) in (None, "meaning_elided")


@settings(max_examples=80, deadline=None)
@given(st.lists(SENTENCE, min_size=3, max_size=5), st.data())
def test_eliding_whole_sentences_is_honest_and_half_sentences_are_stitched(parts: list[str], data) -> None:
    source = " ".join(parts)
    whole = sentences(source)
    if len(whole) < 3 or any(source.count(s) != 1 for s in whole):
        return
    first, last = whole[0], whole[-1]
    start, end = source.find(first) + len(first), source.find(last)
    assert not stitched_gap(source, start, end)
    assert stitched_gap(source, start - 2, end)  # the first fragment stops inside its sentence


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200), st.integers(0, 200), st.integers(0, 200))
def test_checks_never_raise_on_any_text(text: str, start: int, end: int) -> None:
    start, end = min(start, len(text)), min(max(start, end), len(text))
    for value in (cuts_word(text, start, end), cuts_number(text, start, end), unspecific(text, False),
                  words_changed(text, text[::-1]), has_content(text)):
        assert isinstance(value, bool)
    assert meaning_changed(text, text) in (None, "negation_changed", "name_changed", "number_changed")
    assert elision_flaw(text, [(start, end)]) in (None, "cut_word", "meaning_elided")
    assert degenerate_sequence(text) is None or isinstance(degenerate_sequence(text), str)
    assert meaning_changed(text, text) is None


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 50), st.integers(12, 60), st.sampled_from([" ", ", ", "; "]))
def test_any_counting_run_is_degenerate(first: int, step: int, count: int, separator: str) -> None:
    assert degenerate_sequence(separator.join(str(first + step * index) for index in range(count)))


def test_numbers_are_compared_as_whole_tokens_with_separators() -> None:
    source = "The forest has 1,500 trees and covers 2.5 million square metres near Chester."
    assert cited(source, "500 trees and covers 2.5 million")[1] == "number_changed"
    assert cited(source, "5 million square metres near Chester")[1] == "number_changed"
    assert cited(source, "1,500 trees and covers 2.5 million") == (1.0, "exact")


def test_a_phrase_other_sources_say_too_is_generic_whatever_the_punctuation() -> None:
    sources = ["Ann Lee is an American singer, born in Ohio.", "Bob Ray (an American singer) sang."]
    assert said_elsewhere("an American singer,", sources, sources[0])
    assert not said_elsewhere("born in Ohio", sources, sources[0])


def test_mutations_of_real_sentences_do_not_pay(hotpot_rows: list[dict]) -> None:
    rng = random.Random(7)
    paid = total = 0
    for row in hotpot_rows[:40]:
        for source_id, sentence in row["meta"]["supporting_sentences"]:
            source = row["sources"][source_id - 1]["text"]
            pieces = sentence.split()
            if len(pieces) < 8 or sentence not in source:
                continue
            at = rng.randrange(2, len(pieces) - 2)
            for mutated in (" ".join(pieces[:at] + ["(\u2026)"] + pieces[at + 1:]),  # one word elided
                            sentence[2:] if pieces[0].isalpha() and len(pieces[0]) > 3 else None):
                if mutated is not None:
                    total += 1
                    paid += cited(source, mutated)[0] >= 0.9
    assert total >= 40 and paid == 0
