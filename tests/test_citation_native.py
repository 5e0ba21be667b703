"""rewards._quote, the native examination of a quote: the same verdict, score, span, found-in and
Smith-Waterman measure as the Python reference (CitationReward.examine_reference) on random and
real quotes, under several settings; and the fallback to the reference when it is missing or
disagrees."""

from __future__ import annotations

import os
import random
import warnings
from types import SimpleNamespace
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import rewards.citation as citation
from data.corruptions import citation_cases
from data.format import parse_completion
from data.schema import source_texts
from native_support import built_kernel
from rewards.citation import (SELF_CHECK_QUOTES, SELF_CHECK_SOURCES, CitationReward, CitationSettings,
                              checked_examiner, citation_reward, native_examiner)
from rewards.text import fold, fold_sources

SETTINGS = {
    "default": CitationSettings(),
    "exact_sw": CitationSettings(exact_sw=True),
    "lenient": CitationSettings(min_quote_words=1, min_fragment_words=1, paraphrase_threshold=0.3,
                                fuzzy_threshold=0.8, query_threshold=0.5, max_quote_words=12,
                                dump_min_sentences=1, dump_coverage=0.2),
}
WORDS = ["the", "road", "A5117", "runs", "between", "Shotwick", "and", "Helsby", "1994", "7,5",
         "1.000.000", "caf\u00e9", "CAFE\u0301", "Stra\u00dfe", "strasse", "\u0130stanbul", "\u03a3\u039f\u03a3",
         "\u201cquoted\u201d", "l\u2019\u00e9t\u00e9", "\u2013", "x\u00adx", "\ufb01ne", "\u0663\u0664", "\u00b2",
         "Mr.", "E.", "W.", "It", "ended.", "Then", "(\u2026)", "[...]", "\u2026", "...", "\u00ab", "\u00bb", "\""]
SPACES = [" ", " ", " ", "  ", "\n", "\u00a0", "\t"]


def reference_reward(settings_: CitationSettings) -> CitationReward:
    reward = CitationReward(**vars(settings_))
    reward._native = None
    return reward


@pytest.fixture(scope="module")
def examiners():
    built_kernel("_quote", package="rewards")
    found = {name: native_examiner(value) for name, value in SETTINGS.items()}
    assert all(found.values()), "the kernel is built but refuses the settings"
    return found


def text_of(draw_words: list[str], spaces: list[str]) -> str:
    return "".join(word + space for word, space in zip(draw_words, spaces)).strip()


@st.composite
def cases(draw):
    """Sources of random words, and a quote: a stretch of one of them (cut at words or anywhere),
    perhaps elided, mutated, re-spaced or re-cased, or random words; mostly citing its source,
    else another, none or an absurd id."""
    count = draw(st.integers(1, 4))
    sources = []
    for _ in range(count):
        words = draw(st.lists(st.sampled_from(WORDS), min_size=8, max_size=40))
        sources.append(text_of(words, draw(st.lists(st.sampled_from(SPACES), min_size=len(words),
                                                    max_size=len(words)))))
    kind = draw(st.sampled_from(["words", "words", "chars", "elided", "mutated", "random"]))
    cited = draw(st.integers(0, count - 1))
    source = sources[cited]
    if kind == "random" or not source:
        quote = text_of(draw(st.lists(st.sampled_from(WORDS), max_size=12)), [" "] * 12)
    elif kind == "chars":
        start = draw(st.integers(0, len(source)))
        quote = source[start:draw(st.integers(start, len(source)))]
    else:
        words = source.split(" ")
        start = draw(st.integers(0, len(words) - 1))
        quote = " ".join(words[start:start + draw(st.integers(3, 20))])
        if kind == "elided" and len(quote) > 4:
            cut = draw(st.integers(1, len(quote) - 1))
            quote = quote[:cut] + draw(st.sampled_from([" (\u2026) ", " [...] ", "\u2026", "..."])) + quote[cut:]
        elif kind == "mutated" and quote:
            at = draw(st.integers(0, len(quote) - 1))
            quote = quote[:at] + draw(st.sampled_from(["9", "x", "", " ", "\u2019", "E"])) + quote[at + 1:]
    quote = draw(st.sampled_from([quote, quote, quote.upper(), f"\u201c{quote}\u201d", f"  {quote}\n"]))
    source_id = draw(st.sampled_from([cited + 1] * 6 + [None, 0, -1, 1, count, count + 1, 10 ** 30]))
    query = draw(st.sampled_from(["", "Where does the A5117 road run?", quote[:40]]))
    return tuple(sources), quote, source_id, query


def same_examination(examiner, settings_: CitationSettings, sources, quote, source_id, query) -> None:
    context = citation._Context(sources, fold_sources(sources), fold(query), {})
    native = examiner.examine(quote, source_id, sources, context.folded, context.folded_query)
    expected = reference_reward(settings_).examine_reference(quote, source_id, context)
    assert native == expected
    assert [type(value) for value in native] == [type(value) for value in expected]


@pytest.mark.parametrize("name", sorted(SETTINGS))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=cases())
def test_random_quotes_examined_as_the_reference(examiners, name, case):
    same_examination(examiners[name], SETTINGS[name], *case)


def test_real_quotes_examined_as_the_reference(examiners):
    """Every ref of the benchmark's corrupted and honest HotpotQA cases (the verdicts of issue #2)."""
    from test_citation import citation_targets

    checked = set()
    for cases_of_kind in citation_cases(citation_targets.hotpot_rows(40), seed=3).values():
        for completion, row in cases_of_kind:
            sources = tuple(source_texts(row["sources"]))
            for ref in parse_completion(completion).citations:
                checked.add((ref.quote, ref.source_id))
                same_examination(examiners["default"], SETTINGS["default"], sources, ref.quote,
                                 ref.source_id, row["query"])
    assert len(checked) > 500


@pytest.mark.parametrize("sources", [(), ("",), ("a b c", "")])
@pytest.mark.parametrize("quote, source_id", [("a b c", 1), ("a b c", None), ("", 1), ("x (\u2026) y", 2)])
def test_empty_sources_and_quotes(examiners, sources, quote, source_id):
    same_examination(examiners["default"], SETTINGS["default"], sources, quote, source_id, "a b")


def test_ci_runs_the_native_examiner():
    """CI builds the kernel, so the fast path is what the suite and the benchmark measure."""
    if os.environ.get("CI") != "true":
        pytest.skip("only CI guarantees a compiler")
    assert citation_reward.backend == "native"


def test_self_check_covers_every_verdict_of_a_valid_id():
    reward = reference_reward(CitationSettings())
    context = citation._Context(SELF_CHECK_SOURCES, fold_sources(SELF_CHECK_SOURCES), fold("Where does the A5117 end?"), {})
    verdicts = {reward.examine_reference(quote, source_id, context).verdict
                for quote, source_id in SELF_CHECK_QUOTES}
    assert verdicts == set(citation.VERDICTS) - {"duplicate", "unclosed", "invalid_id"} | {None}


def test_a_disagreeing_examiner_is_not_used():
    """A stale build (examining differently from the reference) warns and leaves the reward in Python."""
    wrong = SimpleNamespace(examine=lambda *arguments: None, judge=lambda *arguments: None)
    with mock.patch.object(citation, "native_examiner", lambda settings_: wrong):
        with pytest.warns(RuntimeWarning, match="rewards._quote disagrees"):
            assert checked_examiner(CitationSettings()) is None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reward = CitationReward()
    assert reward.backend == "python"


def test_a_stale_build_warns_and_the_reward_examines_in_python(examiners):
    """A kernel built from another version, lacking a setting it needs, is not used."""
    class Stale:
        def __init__(self, numbers, objects):
            raise KeyError("Examiner: numbers lacks max_examined_quotes")

    with mock.patch.dict("sys.modules", {"rewards._quote": SimpleNamespace(Examiner=Stale)}):
        with pytest.warns(RuntimeWarning, match="stale build"):
            assert CitationReward().backend == "python"


def test_without_the_kernel_the_reward_examines_in_python():
    with mock.patch.dict("sys.modules", {"rewards._quote": None}):
        assert native_examiner(CitationSettings()) is None
        assert CitationReward().backend == "python"


def test_settings_the_kernel_cannot_hold_fall_back_to_python(examiners):
    """A setting no C double holds (an int beyond 1e308) leaves that reward in Python, still working."""
    reward = CitationReward(max_quote_words=10 ** 400)
    assert reward.backend == "python"
    row = {"query": "Where?", "sources": list(SELF_CHECK_SOURCES)}
    quoted = ('English<|language_end|><|query_report_start|>Trivial<|query_report_end|><|answer_start|>'
              'A<ref name="<|source_id|>1">It runs between Shotwick and Helsby.</ref><|answer_end|>')
    assert reward.explain(quoted, row) == citation_reward.explain(quoted, row)


def test_examiner_construction_names_what_is_missing(examiners):
    Examiner = built_kernel("_quote", package="rewards").Examiner
    with pytest.raises(KeyError, match="numbers lacks min_quote_words"):
        Examiner({}, {})
    numbers = {name: 1.0 for name in ("min_quote_words", "min_fragment_words", "fuzzy_threshold",
                                      "paraphrase_threshold", "query_threshold", "dump_min_sentences",
                                      "dump_coverage", "max_quote_words", "too_short_score",
                                      "source_dump_score", "fuzzy_floor", "paraphrase_ceiling", "exact_sw",
                                      "max_fuzzy_quote_chars", "max_fuzzy_source_chars", "number_slack",
                                      "max_diagnostic_chars", "max_sw_quote_words", "max_sw_source_words",
                                      "max_examined_quotes")}
    with pytest.raises(KeyError, match="objects lacks fold"):
        Examiner(numbers, {})
    objects = dict.fromkeys(("fold", "normalise", "partial_ratio_alignment", "partial_ratio", "lcs_similarity",
                             "opcodes", "smith_waterman", "split_elisions", "sentence_breaks",
                             "duplicate_score"), len)
    with pytest.raises(TypeError, match="examined_type must be a tuple subclass"):
        Examiner(numbers, {**objects, "examined_type": dict, "wrapping_quotes": "\""})


def test_examine_rejects_arguments_of_the_wrong_type(examiners):
    examine = examiners["default"].examine
    folded = fold_sources(("a b c",))
    with pytest.raises(TypeError):
        examine(b"quote", 1, ("a b c",), folded, "")
    with pytest.raises(TypeError):
        examine("quote", 1.0, ("a b c",), folded, "")
    with pytest.raises(TypeError):
        examine("quote", 1, (b"a b c",), folded, "")
    with pytest.raises(TypeError):
        examine("quote", 1, ("a b c",), folded)


def test_huge_quote_and_source_in_bounded_time(examiners):
    rng = random.Random(0)
    source = " ".join(rng.choice(WORDS) for _ in range(20_000))
    quote = source[1000:60_000] + " (\u2026) " + source[:500]
    same_examination(examiners["default"], SETTINGS["default"], (source,), quote, 1, "")


def test_lower_casing_never_makes_or_removes_whitespace():
    """What lets the kernel lower a text word by word, as text.lower().split() would (see
    rewards/_quote.c): no character gains or loses whitespace when lower-cased."""
    changed = [code for code in range(0x110000) if not 0xD800 <= code < 0xE000
               and (chr(code).isspace() != any(char.isspace() for char in chr(code).lower())
                    or (chr(code).isspace() and chr(code).lower() != chr(code)))]
    assert changed == []


@pytest.mark.parametrize("quote, window", [
    ("\u039f\u03a3 \u039f\u03a3", "x \u03bf\u03c2 \u03bf\u03c2 y"),  # final sigma, word by word
    ("\u0130stanbul is big", "old \u0069\u0307stanbul is big"),        # İ lowers to two characters
    ("A B C " * 150, "a b c " * 900),                                  # beyond the word caps
])
def test_smith_waterman_words_as_the_reference(examiners, quote, window):
    same_examination(examiners["default"], SETTINGS["default"], (window,), quote, 1, "")
    same_examination(examiners["default"], SETTINGS["default"], (window,), quote + " zz", 1, "")


def test_lower_casing_below_u0100_is_one_character_to_one():
    """What lets the kernel lower words of such characters itself (Py_UNICODE_TOLOWER)."""
    assert all(len(chr(code).lower()) == 1 and ord(chr(code).lower()) < 256 for code in range(256))


REFS = st.lists(st.tuples(
    st.sampled_from(["<|source_id|>1", "<|source_id|>2", "<|source_id|>3", "<|source_id|>9", "x", "1"]),
    st.sampled_from(["It runs between Shotwick and Helsby.", " It runs between Shotwick and Helsby. ",
                     "Helsby is a village in Cheshire", "It runs", "Chester is a city. Chester is a city.",
                     "The A5117 is a road (\u2026) runs between Shotwick", "It opens in 1995 and is 11 km long",
                     "it runs betwen Shotwick and Helsbi", "", "\u2026"]),
    st.booleans()), min_size=1, max_size=7)


def answer_with(refs) -> str:
    """A Trivial-path answer with these (id, quote, closed) refs, the last perhaps unclosed."""
    body = "".join(f'w{k} <ref name="{source_id}">{quote}' + ("</ref>" if closed or k < len(refs) - 1 else "")
                   for k, (source_id, quote, closed) in enumerate(refs))
    return ("English<|language_end|><|query_report_start|>Trivial<|query_report_end|><|answer_start|>"
            + body + ("<|answer_end|>" if refs[-1][2] else ""))


@pytest.mark.parametrize("name", sorted(SETTINGS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(refs=REFS, query=st.sampled_from(["", "Where does the A5117 end?"]))
def test_answers_judged_as_the_reference(examiners, name, refs, query):
    """The native judge gives the reference's score and diagnostics, value for value and type for
    type (repr), whichever examination fills the memo: duplicates, unclosed, invalid ids."""
    native, reference = CitationReward(**vars(SETTINGS[name])), reference_reward(SETTINGS[name])
    assert native.backend == "native"
    row = {"query": query, "sources": list(SELF_CHECK_SOURCES)}
    text = answer_with(refs)
    assert repr(native.explain(text, row)) == repr(reference.explain(text, row))


def test_judge_fills_the_memo_up_to_its_limit(examiners):
    citations = parse_completion(answer_with([("<|source_id|>1", f"quote number {k} here", True)
                                              for k in range(300)])).citations
    context = citation._row_context({"sources": list(SELF_CHECK_SOURCES)})
    examined = {}
    examiners["default"].judge(citations, examined, citation_reward._examine, context)
    assert len(examined) == citation.MAX_EXAMINED_QUOTES


def test_judge_rejects_arguments_of_the_wrong_type(examiners):
    judge = examiners["default"].judge
    context = citation._row_context({"sources": ["a b c"]})
    with pytest.raises(TypeError):
        judge([], {}, citation_reward._examine, context)
    with pytest.raises(AttributeError):  # as the reference: not a Citation
        judge([object()], {}, citation_reward._examine, context)
    citations = parse_completion(answer_with([("1", "a b c", True)])).citations
    with pytest.raises(TypeError):
        judge(citations, {}, lambda *arguments: "not an examination", context)
    odd = citation._Examined("a b c", 7, 1.0, None, "", (), True, 1.0)  # a verdict that is no str
    with pytest.raises(TypeError, match="verdict must be a str"):
        judge(citations, {}, lambda *arguments: odd, context)
