"""Quote normalisation (pleias_rl.rewards.text) and quote-to-source alignment (pleias_rl.rewards.align)."""

from __future__ import annotations

import random

from hypothesis import given, settings, strategies as st

from pleias_rl.data.format import neutralise
from pleias_rl.rewards.align import align_quote, fast_smith_waterman, smith_waterman, split_fragments
from pleias_rl.rewards.text import fold, normalise, normalise_by_runs, printable

SOURCE = ("The A5117 is a road in Cheshire, England. It runs between Shotwick and Helsby and "
          "was opened in 1994. Its length is 7.5 km.")

# Characters that exercise every normalisation rule, plus plain text.
TRICKY = list("aB1 .,\n\t'\"-x") + [
    "\u00e9", "e\u0301", "\u2019", "\u201c", "\u201d", "\u2014", "\u2013", "\u00a0", "\u2060",
    "\u00ad", "\ufb01", "\uff21", "\u3000", "\u00df", "\u0130", "\u00bd", "\u03a3", "\u200b"]
tricky_text = st.lists(st.sampled_from(TRICKY), max_size=40).map("".join)


def test_fold_applies_every_normalisation_rule() -> None:
    assert fold("L\u2019\u00c9T\u00c9 \u2014 \u201cHot\u201d\u00a0 days") == "l'été - \"hot\" days"
    assert fold("\ufb01ne \uff21\uff22") == "fine ab"            # NFKC: ligature, full width
    assert fold("co\u00adop\u200beration") == "cooperation"      # soft hyphen, zero width space
    assert fold(neutralise("<|answer_start|>")) == "<|answer_start|>"  # U+2060 from neutralise
    assert fold("  many \n\t spaces  ") == "many spaces"
    assert fold("e\u0301t\u00e9") == fold("\u00e9t\u00e9") == "été"  # decomposed = composed
    assert fold("STRASSE") == fold("straße")                     # casefold


@settings(max_examples=500, deadline=None)
@given(tricky_text | st.text(st.characters(blacklist_categories=("Cs",)), max_size=20))
def test_fold_equals_normalise_text(text: str) -> None:
    assert fold(text) == normalise(text).text
    assert len(normalise(text).offsets) == len(normalise(text).text) + 1


@settings(max_examples=800, deadline=None)
@given(tricky_text | st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
       | st.text(st.sampled_from(list("Ab \u00e9\u00c9\u2019\u2014\u00df\u0130\u03a3")), max_size=30))
def test_normalise_shortcut_equals_the_run_by_run_map(text: str) -> None:
    fast, reference = normalise(text), normalise_by_runs(text)
    assert (fast.text, list(fast.offsets)) == (reference.text, list(reference.offsets))


def test_accented_sources_take_the_shortcut_with_the_same_offsets() -> None:
    source = "Zo\u00eb Salda\u00f1a \u2013 \u201cAvatar\u201d (2009) \u00c9T\u00c9 "
    shortcut = normalise(source)
    assert isinstance(shortcut.offsets, range)  # no map built
    assert shortcut.text == 'zoë saldaña - "avatar" (2009) été'
    assert list(shortcut.offsets) == list(normalise_by_runs(source).offsets)
    assert not isinstance(normalise("Stra\u00dfe").offsets, range)  # ß folds to two letters


def test_offset_map_points_back_into_the_original() -> None:
    original = "Il a dit\u00a0: \u00ab\u2009L\u2019\u00e9t\u00e9   \u2014 chaud\u00a0\u00bb."
    normalised = normalise(original)
    start = normalised.text.find("l'été - chaud")
    span = normalised.original_span(start, start + len("l'été - chaud"))
    assert original[span[0]:span[1]] == "L\u2019\u00e9t\u00e9   \u2014 chaud"


@settings(max_examples=300, deadline=None)
@given(tricky_text.filter(lambda t: "\u0301" not in t), st.integers(0, 40), st.integers(0, 40))
def test_a_literal_excerpt_is_always_found_and_maps_back(text: str, a: int, b: int) -> None:
    start, end = sorted((min(a, len(text)), min(b, len(text))))
    needle = fold(text[start:end])
    normalised = normalise(text)
    found = normalised.text.find(needle)
    assert found >= 0
    span = normalised.original_span(found, found + len(needle))
    assert 0 <= span[0] <= span[1] <= len(text)
    assert fold(text[span[0]:span[1]]) == needle


def test_split_fragments_at_every_elision_marker() -> None:
    assert split_fragments("a b (…) c d (...) e [\u2026] f [...] g \u2026 h") == [
        "a b", "c d", "e", "f", "g", "h"]
    assert split_fragments("\u2026 only one \u2026") == ["only one"]


def test_exact_quote_aligns_to_the_original_span() -> None:
    source = 'It is a road. It runs between "Shotwick"  and Helsby\u2019s hill - a long way.'
    alignment = align_quote("It runs between \u201cShotwick\u201d and HELSBY's hill \u2014 a", source)
    assert (alignment.score, alignment.exact, alignment.in_order) == (1.0, True, True)
    assert alignment.text == 'It runs between "Shotwick"  and Helsby\u2019s hill - a'
    assert source[alignment.span[0]:alignment.span[1]] == alignment.text
    assert alignment.number_mismatches == ()


def test_elided_fragments_must_occur_in_order() -> None:
    ordered = align_quote("The A5117 is a road (…) opened in 1994", SOURCE)
    assert ordered.exact and ordered.in_order and ordered.elided
    assert ordered.text.startswith("The A5117") and ordered.text.endswith("opened in 1994")
    swapped = align_quote("opened in 1994 (…) The A5117 is a road", SOURCE)
    assert swapped.exact and not swapped.in_order


def test_a_changed_digit_fails_although_fuzzy_similarity_is_high() -> None:
    alignment = align_quote("It runs between Shotwick and Helsby and was opened in 1995.", SOURCE)
    assert alignment.score > 0.97 and not alignment.exact
    assert alignment.number_mismatches == ("1995",)
    decimal = align_quote("Its length is 7.6 km.", SOURCE)
    assert decimal.number_mismatches == ("7.6",)


def test_numbers_must_keep_their_order_and_not_be_cut() -> None:
    source = "He played for the Eagles (1941, 1945-1949). He retired in 1950."
    assert align_quote("He played for the Eagles (1941, 1945-1945).", source).number_mismatches
    assert align_quote("for the Eagles (1941, 19", source).number_mismatches == ("for the eagles (1941, 19",)


def test_typo_gives_a_fuzzy_match_and_nonsense_a_low_score() -> None:
    typo = align_quote("It runs betwen Shotwick and Helsbyy", SOURCE)
    assert 0.9 < typo.score < 1.0 and not typo.exact and typo.number_mismatches == ()
    assert SOURCE[typo.span[0]:typo.span[1]].startswith("It runs")
    nonsense = align_quote("Penguins migrate across the frozen southern ocean every winter", SOURCE)
    assert nonsense.score < 0.6


def test_empty_inputs_do_not_align() -> None:
    assert align_quote("", SOURCE).span is None
    assert align_quote("some words", "").span is None
    assert align_quote("(…)", SOURCE).fragments == ()


def test_huge_quote_and_source_are_bounded() -> None:
    rng = random.Random(0)
    junk = "".join(rng.choice("abcdefgh \u2019\u2014(…)0123") for _ in range(100_000))
    assert 0.0 <= align_quote(junk, SOURCE).score <= 1.0
    assert 0.0 <= align_quote("It runs between Shotwick and Helsby", junk).score <= 1.0
    assert 0.0 <= align_quote(junk, junk[::-1]).score <= 1.0
    assert 0.0 <= smith_waterman(junk, junk) <= 1.0


def test_smith_waterman_reproduces_pleias_scoring() -> None:
    # match 2, mismatch -1, gap -1; score / 2 / quote words; words lower-cased, split on spaces
    assert smith_waterman("It runs between Shotwick", SOURCE) == 1.0
    assert smith_waterman("it RUNS between", SOURCE) == 1.0
    # "Helsby" vs "Helsby." do not match: 4 of 5 words align
    assert smith_waterman("between Shotwick and Helsby", "between Shotwick and Helsby.") == 0.75
    # one substituted word inside: (2*3 - 1) / 2 / 4
    assert smith_waterman("runs between Chester and", SOURCE) == 5 / 8
    # one extra quote word (a gap): (2*4 - 1) / 2 / 5
    assert smith_waterman("runs between really Shotwick and", SOURCE) == 7 / 10
    assert smith_waterman("", SOURCE) == 0.0


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from("a b c d e".split()), min_size=1, max_size=12),
       st.lists(st.sampled_from("a b c d e f".split()), min_size=1, max_size=20))
def test_fast_smith_waterman_is_a_lower_bound_of_the_exact_score(quote: list[str],
                                                                 source: list[str]) -> None:
    exact = smith_waterman(" ".join(quote), " ".join(source))
    assert 0.0 <= fast_smith_waterman(" ".join(quote), " ".join(source)) <= exact


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=0x3000), max_size=60)
       | st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=60))
def test_printable_is_isprintable(text: str) -> None:
    assert printable(text) == text.isprintable()


def test_an_exact_fragment_is_found_on_word_boundaries_when_the_source_has_it_there() -> None:
    source = "They were unhappy with the road, and happy with the road to Helsby."
    found = align_quote("happy with the road to Helsby", source)
    assert found.exact and source[found.span[0]:found.span[1]] == "happy with the road to Helsby"
    inside = align_quote("happy with the road,", source)  # only inside "unhappy"
    assert inside.exact and inside.span[0] == source.index("unhappy") + 2


def test_elided_fragments_are_placed_next_to_each_other() -> None:
    source = "In Kur, a demon roams at night. Its mouth is missing. In Kur, it rules over the dead."
    found = align_quote("In Kur, (\u2026) it rules over the dead.", source)
    assert found.fragments[0].span[0] == source.rindex("In Kur,")


def test_a_number_cut_at_its_separator_is_a_changed_number() -> None:
    source = "The forest has 1,500 trees and 2.5 million roses."
    assert align_quote("500 trees and 2.5 million roses", source).number_mismatches
    assert align_quote("5 million roses", source).number_mismatches
    assert not align_quote("1,500 trees and 2.5 million roses", source).number_mismatches
