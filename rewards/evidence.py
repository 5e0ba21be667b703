"""Is a quote real evidence? Small named checks the citation reward runs on an aligned quote.

Each check answers one question an attacker would exploit, on plain strings and spans of the
ORIGINAL cited source (:class:`pleias_rl.rewards.align.Alignment` spans), and names the verdict it
fires in :data:`pleias_rl.rewards.citation.VERDICTS`:

- :func:`stitched_gap` (``stitched``): an elision that crosses a sentence boundary must cut at
  sentence boundaries on both sides (eliding whole sentences is honest, joining the start of one
  sentence to the end of another is not);
- :func:`short_gap` (``short_elision``): an elision inside a sentence must leave out several words;
- :func:`meaning_dropped` (``meaning_elided``): nor may it leave out a negation, a number or a word
  that flips or narrows the meaning (:data:`pleias_rl.data.wordlists.MEANING_WORDS`, every supported language), unless it
  is a bracketed aside; a quote may not start right after a negation or qualifier either
  (:func:`elision_flaw` runs these on the fragments of an exact quote);
- :func:`cuts_word` (``cut_word``) and :func:`cuts_number` (``number_changed``): fragments start and
  end on word boundaries, and numbers are whole tokens with their separators (1,500 is not 500);
- :func:`meaning_changed` (``negation_changed``, ``name_changed``, ``number_changed``): a fuzzy match
  may not drop or add a negation, change or reorder a name, or drop a number;
  :func:`words_changed`: nor drop or add a content word beyond a typo (then it is a paraphrase);
- :func:`unspecific` (``unspecific``): a quote needs :data:`MIN_CONTENT_WORDS` content words, mostly
  content, and a short quote found in another source too is generic, no evidence;
- :func:`tiny_refs` (``tiny_refs``): an answer made of many tiny refs;
- :func:`query_copied`: a quote is copied from the query only when the query holds more of its
  words than the cited source does.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from typing import Sequence

from rapidfuzz.distance import OSA, Levenshtein

from pleias_rl.data.targets import SENTENCE_BREAK
from pleias_rl.data.wordlists import ANY_FUNCTION_WORD, MEANING_WORDS, NEGATIONS, NUMBER_WORDS
from pleias_rl.rewards.text import fold, fold_source, normalise, register_cache

MIN_GAP_WORDS = 4
"""An elision inside a sentence leaves out at least this many words."""
MIN_CONTENT_WORDS = 2
"""A quote holds at least this many content words (not :data:`pleias_rl.data.wordlists.ANY_FUNCTION_WORD`)."""
MIN_CONTENT_SHARE = 0.25
"""And at least this share of its words are content words."""
GENERIC_MAX_WORDS = 8
"""A quote shorter than this found in another source too is generic."""
TINY_REF_WORDS = 5
"""A ref under this many words is tiny ..."""
MAX_TINY_REFS = 2
"""... and an answer may hold this many tiny refs."""
TYPO_LETTERS = 6
"""Two words are the same word with a typo when one edit (a transposition counts one) per this
many letters, at least one, turns one into the other."""

_WORD = re.compile(r"\w+(?:'\w+)*")
_NUMBER_TOKEN = re.compile(r"\d+(?:[.,]\d+)*")
_ALNUM = re.compile(r"[^\W_]")
_LAST_WORD = re.compile(r"\w+(?:['\u2019]\w+)*$")
_EDGE_MARKS = "\"'.,;:!?()[]{}<>-\u2026/*"
"""Punctuation stripped from both ends of a written word (a faster :func:`words` for counting)."""
_WRITTEN_WORD = re.compile(r"\S*[^\W_]\S*")
_BRACKETED = re.compile(r"\s*[,;]?\s*[(\[][^()\[\]]*[)\]]\s*[,;]?\s*")


def words(text: str) -> list[str]:
    """The folded words of a text (letters and digits, inner apostrophes kept).

    >>> words("It isn't 1,500 — l’été!")
    ['it', "isn't", '1', '500', "l'été"]
    """
    return _WORD.findall(fold(text))


def _negations(tokens: Sequence[str]) -> Counter[str]:
    return Counter("n't" if token.endswith("n't") else token for token in tokens
                   if token in NEGATIONS or token.endswith("n't"))


def _is_meaning_word(token: str) -> bool:
    return token in MEANING_WORDS or token.endswith("n't")


def _is_number(token: str) -> bool:
    return token in NUMBER_WORDS or any(char.isdigit() for char in token)


def _has_words(text: str) -> bool:
    return _ALNUM.search(text) is not None


@lru_cache(maxsize=512)
def sentence_starts(source: str) -> tuple[int, ...]:
    """Offsets where the sentences of ``source`` start (:data:`SENTENCE_BREAK`); cached per text.

    >>> sentence_starts("It is a road. It runs to Helsby. E. W. Scripps built it.")
    (0, 14, 33)
    """
    return (0, *(match.end() for match in SENTENCE_BREAK.finditer(source)))


register_cache(sentence_starts.cache_clear)


def stitched_gap(source: str, left_end: int, right_start: int) -> bool:
    """True when the gap ``source[left_end:right_start]`` between two elided fragments crosses
    a sentence boundary without the left fragment ending its sentence and the right one starting
    its own (nothing but punctuation and spaces may be cut off at either end).

    >>> source = "The A5117 is a road in Cheshire. It runs to Helsby. It opened in 1994."
    >>> stitched_gap(source, 19, 56)  # "The A5117 is a road (…) opened in 1994": stitched
    True
    >>> stitched_gap(source, 32, 52)  # "The A5117 is a road in Cheshire. (…) It opened in 1994."
    False
    >>> stitched_gap(source, 5, 14)  # a gap inside one sentence is not stitched
    False
    """
    starts = sentence_starts(source)
    crossed = [start for start in starts if left_end < start <= right_start]
    if not crossed:
        return False
    return _has_words(source[left_end:crossed[0]]) or _has_words(source[crossed[-1]:right_start])


def short_gap(gap: str) -> bool:
    """True when an elision inside a sentence leaves out fewer than :data:`MIN_GAP_WORDS` words
    (written words: "English-American" is one); a bracketed aside, dates or a clarification,
    may be left out whole at any length.

    >>> short_gap(" not "), short_gap(" English-American film director, "), short_gap(" (born 1950) ")
    (True, True, False)
    >>> short_gap(" which is long and winding ")
    False
    """
    return len(_WRITTEN_WORD.findall(gap)) < MIN_GAP_WORDS and not _BRACKETED.fullmatch(gap)


def meaning_dropped(gap: str) -> str | None:
    """The negation or flipping/narrowing word an elision inside a sentence leaves out, or the
    number right at either edge of the gap (it qualified the kept text: "awarded (…) million
    dollars"), or ``None``. A number inside a longer left-out clause goes with that clause, and
    a bracketed aside without a negation may go whole (``(born 12 May 1950)``).

    >>> meaning_dropped(" was found not to be "), meaning_dropped(" 2.5 million dollars to the ")
    ('not', '2')
    >>> meaning_dropped(" (born 12 May 1950) "), meaning_dropped(" which was built in 1990 and ")
    (None, None)
    """
    tokens = words(gap)
    if _BRACKETED.fullmatch(gap):
        return next(iter(_negations(tokens)), None)
    if not MEANING_WORDS.isdisjoint(tokens) or "n't" in gap or "n\u2019t" in gap:
        return next(token for token in tokens if _is_meaning_word(token))
    return next((token for token in tokens[:1] + tokens[-1:] if _is_number(token)), None)


def word_before(source: str, start: int) -> str | None:
    """The word right before ``start`` in the same clause (only spaces between), or ``None``.

    >>> word_before("He was not guilty.", 11), word_before("Guilty, he said.", 8)
    ('not', None)
    """
    head = source[max(0, start - 60):start].rstrip()
    if not head or not head[-1].isalnum() or len(head) == start - max(0, start - 60):
        return None  # after punctuation, at the start, or inside a word
    found = _LAST_WORD.search(head)
    return fold(found.group()) if found is not None else None


def cuts_word(text: str, start: int, end: int) -> bool:
    """True when ``text[start:end]`` starts or ends inside a word.

    >>> text = "They were unhappy with the road."
    >>> cuts_word(text, 12, 31), cuts_word(text, 10, 31), cuts_word(text, 10, 20)
    (True, False, True)
    """
    return (0 < start < len(text) and text[start - 1].isalnum() and text[start].isalnum()) or (
        0 < end < len(text) and text[end - 1].isalnum() and text[end].isalnum())


def cuts_number(text: str, start: int, end: int) -> bool:
    """True when ``text[start:end]`` starts or ends inside a number, separators included
    (``500`` of ``1,500``, ``5`` of ``2.5``, ``1`` of ``1,500``).

    >>> text = "It planted 1,500 trees and 2.5 million roses in 1990."
    >>> cuts_number(text, 13, 22), cuts_number(text, 29, 43), cuts_number(text, 11, 22)
    (True, True, False)
    >>> cuts_number(text, 11, 12), cuts_number(text, 47, 52)
    (True, False)
    """
    return _inside_number(text, start) or _inside_number(text, end)


def _inside_number(text: str, cut: int) -> bool:
    """True when ``cut`` lies between two digits, or between a digit and a separator (``.`` or
    ``,``) followed or preceded by another digit."""
    if not 0 < cut < len(text):
        return False
    left, right = text[cut - 1], text[cut]
    if right.isdigit():
        return left.isdigit() or (left in ".," and cut >= 2 and text[cut - 2].isdigit())
    return left.isdigit() and right in ".," and cut + 1 < len(text) and text[cut + 1].isdigit()


def _count_numbers(text: str) -> Counter[str]:
    return Counter(_NUMBER_TOKEN.findall(fold(text)))


def _names(text: str) -> list[str]:
    """The folded words (as :func:`words` splits them) written with a capital first letter that
    are not function words, in order."""
    if text.isascii():  # folding is lower() and collapsing spaces: the same words, in their case
        cased = (word.group() for word in _WORD.finditer(text))
        return [name for name in (word.lower() for word in cased if word[0].isupper())
                if name not in ANY_FUNCTION_WORD]
    normalised = normalise(text)
    original, offsets = normalised.original, normalised.offsets
    return [word.group() for word in _WORD.finditer(normalised.text)
            if original[offsets[word.start()]].isupper() and word.group() not in ANY_FUNCTION_WORD]


def _is_subsequence(needles: Sequence[str], haystack: Sequence[str]) -> bool:
    remaining = iter(haystack)
    return all(needle in remaining for needle in needles)


def meaning_changed(quote: str, window: str) -> str | None:
    """What a fuzzy quote changes in the meaning of its aligned source ``window``: the verdict
    ``negation_changed`` (a negation dropped or added), ``name_changed`` (a name of the quote
    absent from the window, or names in another order) or ``number_changed`` (a number of the
    window left out), else ``None``.

    >>> window = "The jury found the contractor not guilty of negligence in 2004."
    >>> meaning_changed("The jury found the contractor guilty of negligence in 2004.", window)
    'negation_changed'
    >>> meaning_changed("Ann sued Bob in 2004.", "Bob sued Ann in 2004."), meaning_changed(
    ...     "Ann sued Bob in 2004.", "Ann sued Rob in 2004.")
    ('name_changed', 'name_changed')
    >>> meaning_changed("The jury found the contractor not guilty of negligence.", window)
    'number_changed'
    >>> meaning_changed("The jury found the contractor not guilty of negligance in 2004.", window) is None
    True
    """
    quote_words, window_words = words(quote), words(window)
    if _negations(quote_words) != _negations(window_words):
        return "negation_changed"
    names = _names(quote)
    named = set(names)
    if not named <= set(window_words) or not _is_subsequence(
            names, [word for word in window_words if word in named]):
        return "name_changed"
    if _count_numbers(window) - _count_numbers(quote):
        return "number_changed"
    return None


def _same_word(word: str, others: Sequence[str]) -> bool:
    return word in others or any(
        OSA.distance(word, other) <= max(1, len(other) // TYPO_LETTERS) for other in others)


def words_changed(quote: str, window: str) -> bool:
    """True when a fuzzy quote drops, adds or reorders a content word of its source ``window``
    (beyond a typo). Words are aligned by a word-level edit script: window words beyond either
    end of the quote are context, every other unmatched content word is a change.

    >>> window = "It was abolished at the reform of the large village of Helsby in Cheshire."
    >>> words_changed("It was at the reform of the large village of Helsby", window)
    True
    >>> words_changed("the reform of the village of Helsby", window)
    True
    >>> words_changed("reform of teh large vilage of Helsby", window)
    False
    """
    quote_words, window_words = words(quote), words(window)
    blocks = Levenshtein.opcodes(quote_words, window_words).as_list()
    equal = [index for index, block in enumerate(blocks) if block[0] == "equal"]
    if not equal:
        return True
    for index, (tag, quote_start, quote_end, window_start, window_end) in enumerate(blocks):
        if tag == "equal":
            continue
        quoted, source = quote_words[quote_start:quote_end], window_words[window_start:window_end]
        if index < equal[0] or index > equal[-1]:  # at an end: the window may hold more context
            if any(word not in ANY_FUNCTION_WORD and not _same_word(word, source) for word in quoted):
                return True
        elif _unpaired_content(quoted, source):
            return True
    return False


def _unpaired_content(quoted: Sequence[str], source: Sequence[str]) -> bool:
    """True when two differing runs of words do not pair up word by word as typos, or as
    function words for function words, with only function words left over."""
    pairs = zip(quoted, source)
    leftover = list(quoted[len(source):]) + list(source[len(quoted):])
    return any(not _same_word(word, [other]) and not (word in ANY_FUNCTION_WORD and other in ANY_FUNCTION_WORD)
               for word, other in pairs) or any(word not in ANY_FUNCTION_WORD for word in leftover)


def content_words(text: str) -> list[str]:
    """The words of ``text`` that are not :data:`pleias_rl.data.wordlists.ANY_FUNCTION_WORD`.

    >>> content_words("It is an American actor")
    ['american', 'actor']
    """
    return [word for word in words(text) if word not in ANY_FUNCTION_WORD]


def unspecific(quote: str, also_in_other_sources: bool, min_content: int = MIN_CONTENT_WORDS) -> bool:
    """True when a quote is no specific evidence: under ``min_content`` content words, mostly
    function words, or short (under :data:`GENERIC_MAX_WORDS` words) and found in another
    source too.

    >>> unspecific("is an American", False), unspecific("and it was one of the", False)
    (True, True)
    >>> unspecific("an American actor", True), unspecific("an American actor", False)
    (True, False)
    """
    stripped = [piece.strip(_EDGE_MARKS) for piece in fold(quote).split()]
    word_count = len(stripped) - stripped.count("")  # "" is no function word: counted as neither
    content = word_count - sum(map(ANY_FUNCTION_WORD.__contains__, stripped))
    if content < min_content or content < MIN_CONTENT_SHARE * word_count:
        return True
    return also_in_other_sources and word_count < GENERIC_MAX_WORDS


@lru_cache(maxsize=512)
def _word_line(text: str) -> str:
    """The words of a text between single spaces, with a space at each end (cached per text)."""
    return f" {' '.join(words(text))} "


register_cache(_word_line.cache_clear)


def said_elsewhere(quote: str, sources: Sequence[str], cited: str) -> bool:
    """True when the words of ``quote`` occur as a run in a source other than ``cited``,
    whatever the punctuation around them.

    >>> sources = ["Ann Lee is an American singer.", "Bob Ray (an American singer) sang."]
    >>> said_elsewhere("an American singer.", sources, sources[0]), said_elsewhere("Ann Lee", sources, sources[0])
    (True, False)
    """
    others = list(sources)
    if cited in others:
        others.remove(cited)
    quoted = words(quote)
    key = f" {' '.join(quoted)} "
    return bool(quoted) and any(all(word in fold_source(text) for word in quoted)  # cheap filter first
                                and key in _word_line(text) for text in others)


def tiny_refs(word_counts: Sequence[int]) -> list[bool]:
    """Which refs of an answer are penalised as tiny: all refs under :data:`TINY_REF_WORDS`
    words once the answer holds more than :data:`MAX_TINY_REFS` of them.

    >>> tiny_refs([3, 12, 4]), tiny_refs([3, 3, 12, 4])
    ([False, False, False], [True, True, False, True])
    """
    tiny = [count < TINY_REF_WORDS for count in word_counts]
    return tiny if sum(tiny) > MAX_TINY_REFS else [False] * len(tiny)


def query_copied(quote: str, source: str, query: str) -> bool:
    """True when the query holds more of the quote's distinct words than the cited source.

    >>> source = "The A5117 is a road in Cheshire, England. It runs between Shotwick and Helsby."
    >>> query_copied("The A5117 runs between Shotwick and Helsby", source,
    ...              "The A5117 runs between Shotwick and which village?")
    False
    >>> query_copied("Which village is at the end of the A5117?", source,
    ...              "Which village is at the end of the A5117?")
    True
    """
    quoted = set(words(quote))
    return len(quoted & set(words(query))) > len(quoted & set(words(source)))


def elision_flaw(source: str, spans: Sequence[tuple[int, int]]) -> str | None:
    """The verdict of the first flaw in where the fragments of an exact quote lie in ``source``
    (spans in order): ``cut_word`` (:func:`cuts_word`), ``meaning_elided`` (the quote starts
    right after a negation or narrowing word, or an elision inside a sentence leaves one out:
    :func:`meaning_dropped`), ``stitched`` (:func:`stitched_gap`) or ``short_elision``
    (:func:`short_gap`); ``None`` when the fragments are honest.

    >>> source = "The jury found the contractor not guilty of negligence. It appealed in 2004."
    >>> elision_flaw(source, [(0, 29), (34, 54)])  # "The jury found the contractor (…) guilty of negligence"
    'meaning_elided'
    >>> elision_flaw(source, [(0, 14), (19, 54)])  # "The jury found (…) contractor not guilty of negligence"
    'short_elision'
    >>> elision_flaw(source, [(0, 18), (59, 67)])  # "The jury found the (…) appealed": stitched
    'stitched'
    >>> elision_flaw(source, [(2, 8)]), elision_flaw(source, [(34, 54)])  # "e jury", "guilty of negligence"
    ('cut_word', 'meaning_elided')
    >>> elision_flaw(source, [(0, 55), (56, 77)]), elision_flaw(source, [(4, 40)])
    (None, None)
    """
    for start, end in spans:
        if cuts_word(source, start, end):
            return "cut_word"
    before = word_before(source, spans[0][0]) if spans else None
    if before is not None and _is_meaning_word(before):
        return "meaning_elided"
    for (_, left_end), (right_start, _) in zip(spans, spans[1:]):
        if stitched_gap(source, left_end, right_start):
            return "stitched"
        if any(left_end < start <= right_start for start in sentence_starts(source)):
            continue  # whole sentences left out
        gap = source[left_end:right_start]
        if meaning_dropped(gap) is not None:
            return "meaning_elided"
        if short_gap(gap):
            return "short_elision"
    return None
