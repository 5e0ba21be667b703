"""data._parse, the native scanner of clean completions: whatever it takes it parses exactly as
the Python reference does, it leaves every faulty completion to the reference, it takes the real
clean outputs, and data.format falls back to the reference when it is missing or disagrees."""

from __future__ import annotations

import os
import random
import sys
from unittest import mock

import pytest
from hypothesis import given, settings, strategies as st

import data.format as fmt
from data.format import (EOS_TOKEN, SECTIONS, SPECIAL_TOKENS, build_prompt, native_scanner,
                         parse_completion, parse_completion_reference, parser_backend, render_completion)
from data.targets import oracle_completion
from native_support import built_kernel


@pytest.fixture(scope="module")
def scan():
    built_kernel("_parse")
    return native_scanner()


def same_or_left(scan, text: str) -> fmt.ParsedCompletion | None:
    """Check the scanner's contract on ``text``; return what it took (``None``: left)."""
    native, reference = scan(text), parse_completion_reference(text)
    if native is not None:
        assert native == reference
        assert vars(native) == vars(reference)  # nothing more, nothing less than the reference
        assert [vars(s) for s in native.sections] == [vars(s) for s in reference.sections]
        assert native.prose == reference.prose
    if reference.errors:
        assert native is None, reference.errors
    return native


def test_ci_runs_the_native_scanner():
    """CI builds the scanner, so the fast path is what the suite and the benchmark measure."""
    if os.environ.get("CI") != "true":
        pytest.skip("only CI guarantees a compiler")
    assert parser_backend() == "native"


# Pieces a model (or an attacker) could put anywhere: every token, canonical and lenient refs,
# cases, unusual whitespace, digits, labels, EOS strings.
PIECES = st.sampled_from(list(SPECIAL_TOKENS) + [
    EOS_TOKEN, "<|endoftext|>", '<ref name="<|source_id|>', '<ref name="<|source_id|>1">',
    '<ref name="<|source_id|>0012">', '<ref name="7">', "<REF name=\"<|source_id|>2\">", "</ref>",
    "</REF>", "</ref >", "<ref>", "<reference>", "<", "|>", "<|", "<|source_id|>", "<|Answer_start|>",
    '">', "English", "Trivial", "trivial.", "Basic", "Unclear", "Answerable", " word", "Word. ",
    "\n", "\r\n", " ", "\u2028", "\u00a0", "\u3000", "(…)", "1", "0000000000000000000001",
    "1234567890", "x" * 45, "é", "\udcff", ":", ". ", "!\n", "?\u00a0"])


@settings(max_examples=600, deadline=None)
@given(st.lists(PIECES, max_size=50))
def test_tag_soup(scan, pieces):
    same_or_left(scan, "".join(pieces))


WORDS = st.sampled_from(["Helsby", " ", "road.", ". ", "\n", "\t", "\u2009", "é", "<", "<b>", "|",
                         "1945", ";", ":\u00a0", "\u2019", "!\n"])
CONTENT = st.lists(WORDS, min_size=1, max_size=8).map(lambda words: "Helsby" + "".join(words))
QUERY_LABELS = st.sampled_from(["Trivial", " trivial. ", "TRIVIAL", "Unclear", "refused.."])
FULL_QUERY_LABELS = st.sampled_from(["Answerable", "Reformulation", "reformulated"])
SOURCE_LABELS = st.sampled_from(["Extensive", "Basic", " basic.. ", "Incomplete", "Infeasible"])
REF = st.builds(lambda digits, quote: f'<ref name="<|source_id|>{digits}">{quote}</ref>',
                st.sampled_from(["1", "2", "10", "007", "123456789", "0" * 19 + "1"]), CONTENT)
FAULTS = st.sampled_from([
    "<|answer_end|>", "<|draft_start|>", "x", "</ref>", "</REF>", "</ref >", "<ref>", "<reference>",
    '<ref name="7">q</ref>', '<Ref name="<|source_id|>1">q</ref>', '<ref name="<|SOURCE_ID|>1">q</ref>',
    '<ref name="<|source_id|>1234567890">q</ref>', '<ref name="<|source_id|>٣">q</ref>',
    '<ref name="<|source_id|>' + "0" * 30 + '1">q</ref>', '<ref name="<|source_id|>1">unclosed',
    "<|language_end|>", "<|source_id|>", "<|Answer_start|>", "<|unknown_token|>", EOS_TOKEN,
    "Maybe", "Trİvial", "\u2028", " "])


@st.composite
def completions(draw, faulty: bool = True) -> str:
    """Clean completions of either path (with or without prompt and EOS, whitespace of every
    kind); when ``faulty``, half of them get one fault inserted at a random place, and the
    prompt may lack its ``<|language_start|>``."""
    short = draw(st.booleans())
    values = {"query_analysis": draw(CONTENT), "answer": "".join(draw(st.lists(st.one_of(CONTENT, REF), max_size=6))),
              "query_report": draw(QUERY_LABELS if short else FULL_QUERY_LABELS),
              "source_analysis": draw(CONTENT), "source_report": draw(SOURCE_LABELS), "draft": draw(CONTENT)}
    names = [n for n in SECTIONS if not (short and n in fmt.TRIVIAL_SKIPPED)]
    if not values["answer"].strip():
        values["answer"] = "Helsby"
    parts = [f"<|{name}_start|>{values[name]}<|{name}_end|>" + draw(st.sampled_from(["", "\n", " ", "\u2028"]))
             for name in names]
    language = draw(st.sampled_from(["English", " Français ", "Deutsch\n", "x" * 40]))
    prefix = draw(st.sampled_from(["", "  ", "<|language_start|>\n\r", build_prompt("Q?", ["S."])]
                                  + ["<|query_start|>no language start"] * faulty))
    suffix = draw(st.sampled_from(["", EOS_TOKEN, f" {EOS_TOKEN}\n", "<|endoftext|><|im_end|>", "\u2028"]))
    text = prefix + language + "<|language_end|>" + draw(st.sampled_from(["", "\n"])) + "".join(parts) + suffix
    if faulty and draw(st.booleans()):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(FAULTS) + text[at:]
    return text


@settings(max_examples=1500, deadline=None)
@given(completions())
def test_structured_completions(scan, text):
    same_or_left(scan, text)


@settings(max_examples=300, deadline=None)
@given(completions(faulty=False))
def test_clean_completions_are_taken(scan, text):
    assert same_or_left(scan, text) is not None


def clean_outputs(rows: list[dict]) -> list[str]:
    """Real clean completions of the shipped HotpotQA rows: both paths, plain and elided."""
    return [oracle_completion(row, trivial=trivial, elide=elide)
            for row in rows for trivial in (True, False) for elide in (False, True)]


def test_takes_every_real_clean_output(scan, hotpot_rows):
    outputs = clean_outputs(hotpot_rows)
    taken = [same_or_left(scan, text) for text in outputs]
    assert len(outputs) == 400 and all(parsed is not None for parsed in taken)
    assert sum(len(parsed.citations) for parsed in taken) > 800


def test_damaged_real_outputs(scan, hotpot_rows):
    """Cuts, repeats and insertions at random places of real outputs: same result, or left."""
    rng = random.Random(7)
    outputs = clean_outputs(hotpot_rows[:30])
    taken = 0
    for number in range(3000):
        text = rng.choice(outputs)
        start, end = sorted(rng.randrange(len(text) + 1) for _ in range(2))
        damaged = (text[:start] + text[end:], text[:end] + text[start:end] + text[end:],
                   text[:start] + rng.choice(["<", "</ref>", "<|answer_end|>", " ", "\n", ". "]) + text[start:],
                   text[:start] + text[start:end].upper() + text[end:])[number % 4]
        taken += same_or_left(scan, damaged) is not None
    assert 300 < taken < 3000  # both paths exercised


@pytest.mark.parametrize("text", [
    "",
    "English<|language_end|>",
    "\udcff<|language_end|><|query_report_start|>Trivial<|query_report_end|><|answer_start|>\udcff<|answer_end|>",
    "English<|language_end|><|query_report_start|>Trivial<|query_report_end|><|answer_start|>"
    "a < b and <|source_id|> c<|answer_end|>",
    "English<|language_end|><|query_report_start|>Trivial<|query_report_end|><|answer_start|>"
    "see <reference> here<|answer_end|>",
    "English<|language_end|><|query_report_start|>Trivial<|query_report_end|><|answer_start|>"
    'x<ref name="<|source_id|>1234567890">q</ref><|answer_end|>',
    "English<|language_end|><|query_report_start|>Trivial<|query_report_end|><|answer_start|>"
    'x<ref name="<|source_id|>0000000001">q</ref><|answer_end|>',
    "English<|language_end|><|query_analysis_start|>a<ref name=\"<|source_id|>1\">q</ref><|query_analysis_end|>"
    "<|query_report_start|>Trivial<|query_report_end|><|answer_start|>y<|answer_end|>",
    "English<|language_end|><|query_report_start|>Unclear<|query_report_end|><|answer_start|>No.<|answer_end|>",
    "English<|language_end|><|query_report_start|>Answerable<|query_report_end|><|answer_start|>No.<|answer_end|>",
    "English<|language_end|>\u2028<|query_report_start|>Trivial<|query_report_end|>\u3000<|answer_start|>"
    "A.\u00a0B:\u2028C<ref name=\"<|source_id|>1\">q</ref>\n<ref name=\"<|source_id|>2\">r</ref><|answer_end|>",
    "English<|language_end|><|query_report_start|>Trivial<|query_report_end|><|answer_start|>"
    + "word " * 20_000 + "<|answer_end|>",
])
def test_edge_cases(scan, text):
    same_or_left(scan, text)


def test_bounded_time_on_huge_soup(scan):
    for piece in ("<", "<|", "<ref", "<|answer_start|>", '<ref name="<|source_id|>1">'):
        same_or_left(scan, "English<|language_end|><|answer_start|>" + piece * 30_000)


def test_non_strings_are_left_to_the_reference(scan):
    class Text(str):
        pass

    clean = render_completion(language="English", query_analysis="a", query_report="Trivial", answer="b")
    assert scan(clean) is not None
    assert scan(Text(clean)) is None and scan(None) is None and scan(b"x") is None
    assert parse_completion(Text(clean)) == parse_completion(clean)


@pytest.mark.parametrize(("change", "message"), [
    ({"section_names": ()}, "section_names"),
    ({"section_names": ("a", "b")}, "answer"),
    ({"token_roles": {"answer_start": (99, True)}}, "token_roles"),
    ({"token_roles": {"answer_start": "x"}}, "token_roles"),
    ({"skippable": frozenset({99})}, "skippable"),
    ({"eos_tokens": ("",)}, "eos_tokens"),
    ({"section_type": 3}, "section_type"),
])
def test_scanner_refuses_bad_settings(scan, change, message):
    Scanner = built_kernel("_parse").Scanner
    settings_ = dict(section_type=fmt.Section, citation_type=fmt.Citation, completion_type=fmt.ParsedCompletion,
                     section_names=SECTIONS, token_roles={"answer_start": (5, True)}, eos_tokens=(EOS_TOKEN,),
                     query_labels={}, source_labels={}, short_path_labels=frozenset(), skippable=frozenset())
    settings_.update(change)
    with pytest.raises((TypeError, ValueError), match=message):
        Scanner(**settings_)


def test_without_the_kernel_the_reference_parses_everything():
    with mock.patch.dict(sys.modules, {"data._parse": None}):
        assert native_scanner() is None
        assert fmt._checked_scanner() is None
    with mock.patch.object(fmt, "_SCAN", None):
        assert parser_backend() == "python"
        assert parse_completion(fmt.SELF_CHECK_COMPLETIONS[0]) == parse_completion_reference(
            fmt.SELF_CHECK_COMPLETIONS[0])


def test_a_disagreeing_scanner_is_not_used():
    with mock.patch.object(fmt, "native_scanner", lambda: lambda text: None):
        with pytest.warns(RuntimeWarning, match="disagrees"):
            assert fmt._checked_scanner() is None


def test_rewards_score_the_same_whichever_parser_ran(hotpot_rows):
    """The three rewards on real clean outputs (both paths), with the scanner and without it."""
    from rewards import citation_reward, format_reward, language_reward
    from rewards.base import parse_cached

    rows = hotpot_rows[:5]
    texts = [text for row in rows for text in clean_outputs([row])]
    columns = {key: [row[key] for row in rows for _ in range(4)] for key in ("query", "sources")}

    def scores() -> list[list[float | None]]:
        parse_cached.cache_clear()
        return [reward(completions=texts, **columns) for reward in (citation_reward, format_reward, language_reward)]

    with_scanner = scores()
    with mock.patch.object(fmt, "_SCAN", None):
        assert scores() == with_scanner
    parse_cached.cache_clear()
    assert with_scanner[1] == [1.0] * 20  # clean format, so the scanner took them
