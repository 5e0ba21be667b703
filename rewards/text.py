"""Text normalisation for quote matching, with a map back to the original characters.

Quotes and sources are compared after :func:`fold`: Unicode NFKC, curly quotes and
apostrophes made straight, every dash made ``-``, format characters (category Cf: soft
hyphen, zero-width characters, the WORD JOINER that :func:`pleias_rl.data.format.neutralise` inserts)
dropped, whitespace runs collapsed to one space, case folded. :func:`normalise` gives the same
text plus an offset map, so a match found in normalised text is reported as a span of the
ORIGINAL source. Sources repeat across a GRPO group, so both are cached (LRU keyed on the text).
"""

from __future__ import annotations

import re
import unicodedata
from array import array
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate
from typing import Callable, NamedTuple, Sequence

_QUOTES = "\u2018\u2019\u201a\u201b\u2032\u2035\u00b4\u02bc\u02b9"  # ASCII stays as it is
_DOUBLE_QUOTES = "\u201c\u201d\u201e\u201f\u2033\u2036\u00ab\u00bb"
_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2e3a\u2e3b\ufe58\ufe63\uff0d"


def _build_table() -> dict[int, str | None]:
    table: dict[int, str | None] = {ord(c): "'" for c in _QUOTES}
    table.update({ord(c): '"' for c in _DOUBLE_QUOTES})
    table.update({ord(c): "-" for c in _DASHES})
    # Format characters (Cf) live in planes 0, 1 and 14 only; scanning those is 10x faster.
    table.update({code: None for block in (range(0x20000), range(0xE0000, 0xE1000))
                  for code in block if unicodedata.category(chr(code)) == "Cf"})
    return table


_TABLE = _build_table()
_TABLE_CHARS = frozenset(map(chr, _TABLE))
# Runs that do not map one-to-one: a character outside printable ASCII with the spaces and
# non-ASCII characters that follow it, or several spaces. Plain ASCII maps to itself, lowered.
_SPECIAL = re.compile(r"[^ -~][^!-~]*|  +")
_ASCII_BYTES = bytes(range(128))
SOURCE_CACHE_SIZE = 512
"""How many normalised texts each cache keeps (10 sources x a GRPO group fit many times)."""


@lru_cache(maxsize=4096)
def _fold_piece(piece: str) -> str:
    """Normalise a run that is not plain ASCII; inner whitespace runs become one space.

    Cached: runs are short and repeat (a letter with an accent, a curly apostrophe).
    """
    folded = unicodedata.normalize("NFKC", piece).translate(_TABLE).casefold()
    if not folded.strip():
        return " " if folded else ""
    inner = " ".join(folded.split())
    return (" " if folded[0].isspace() else "") + inner + (" " if folded[-1].isspace() else "")


_PRINTABLE_ASCII = bytes(range(0x20, 0x7F))


def printable(text: str) -> bool:
    """``text.isprintable()``, three times faster on ASCII text (deleting its printable bytes
    leaves nothing).

    >>> printable("A b."), printable("a\\tb"), printable("caf\\u00e9"), printable("\\u00ad")
    (True, False, True, False)
    """
    if text.isascii():
        return not text.encode("ascii").translate(None, _PRINTABLE_ASCII)
    return text.isprintable()


def _collapse(text: str) -> str:
    """``" ".join(text.split())``, without splitting when single spaces are the only whitespace.

    >>> _collapse(" a b "), _collapse("a \\n b")
    ('a b', 'a b')
    """
    if "  " not in text and printable(text):  # printable: no whitespace but " "
        return text.strip(" ")
    return " ".join(text.split())


def _translate(text: str) -> str:
    """``text.translate(_TABLE)``, looking up only the non-ASCII characters (all keys are).

    >>> _translate("l\u2019\u00e9t\u00e9 \u2014 x\u00ad")
    "l'\u00e9t\u00e9 - x"
    """
    # the non-ASCII characters alone: drop the ASCII bytes of the UTF-8 encoding
    non_ascii = text.encode("utf-8", "surrogatepass").translate(None, _ASCII_BYTES)
    for char in set(non_ascii.decode("utf-8", "surrogatepass")) & _TABLE_CHARS:
        text = text.replace(char, _TABLE[ord(char)] or "")  # replacements are never keys
    return text


@lru_cache(maxsize=SOURCE_CACHE_SIZE)
def fold(text: str) -> str:
    """Normalise text for matching (no offset map); cached.

    >>> fold("  L\u2019\u00e9t\u00e9 \u2014 \u201cHOT\u201d\\n  days\u00ad ")
    'l\\'été - "hot" days'
    >>> fold("<\u2060|answer_start|>")
    '<|answer_start|>'
    """
    if text.isascii():
        return _collapse(text.lower())
    # casefold works character by character and folding twice changes nothing, so one
    # casefold after the translation equals folding each non-ASCII run, then the whole text
    return _collapse(_translate(unicodedata.normalize("NFKC", text)).casefold())


@lru_cache(maxsize=SOURCE_CACHE_SIZE)
def fold_source(text: str) -> str:
    """:func:`fold` for source texts, cached apart so that quotes never evict sources.

    >>> fold_source("The  A5117") == fold("The  A5117")
    True
    """
    return fold.__wrapped__(text)


class FoldedSources(NamedTuple):
    """The folded texts of a row's sources, also joined by newlines for one-pass searches.

    A folded text never holds a newline (:func:`fold` collapses whitespace), so a folded
    needle found in :attr:`joined` lies inside one source.

    >>> folded = fold_sources(("The A5117 road.", "A road.", "The  A5117."))
    >>> folded.texts, folded.containing("the a5117")
    (('the a5117 road.', 'a road.', 'the a5117.'), [1, 3])
    """

    texts: tuple[str, ...]
    joined: str
    starts: tuple[int, ...]

    def containing(self, needle: str) -> list[int]:
        """1-based ids of the sources whose folded text contains ``needle``, in order.

        >>> fold_sources(("a b", "b c")).containing("b"), fold_sources(("a b",)).containing("")
        ([1, 2], [1])
        """
        found: list[int] = []
        position = self.joined.find(needle) if self.texts else -1
        while position >= 0:
            number = bisect_right(self.starts, position)
            found.append(number)
            if number == len(self.starts):
                break
            position = self.joined.find(needle, self.starts[number])
        return found


@lru_cache(maxsize=SOURCE_CACHE_SIZE // 8)
def fold_sources(texts: tuple[str, ...]) -> FoldedSources:
    """:func:`fold_source` of every source of a row, and their join; cached per tuple of texts.

    >>> fold_sources(("A  b", "C")).joined
    'a b\\nc'
    """
    folded = tuple(fold_source(text) for text in texts)
    starts = tuple(accumulate((len(text) + 1 for text in folded[:-1]), initial=0))
    return FoldedSources(folded, "\n".join(folded), starts)


@dataclass(frozen=True)
class NormalisedText:
    """A normalised text and, for each of its characters, the offset in the original.

    ``offsets`` has one entry more than ``text``: where the last kept original character ends.

    >>> n = normalise("A  \u201cquoted\u201d   word")
    >>> n.text
    'a "quoted" word'
    >>> n.original_span(2, 10), n.original[3:11]
    ((3, 11), '\u201cquoted\u201d')
    """

    original: str
    text: str
    offsets: Sequence[int]

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """Map a ``[start, end)`` span of :attr:`text` to a span of :attr:`original`.

        >>> normalise("x\u00a0\u00a0Y").original_span(2, 3)
        (3, 4)
        """
        length = len(self.text)
        start = min(max(start, 0), length)
        end = min(max(end, start), length)
        offsets = self.offsets
        if end == start:
            return offsets[start], offsets[start]
        last, following = offsets[end - 1], offsets[end]
        return offsets[start], (following if following > last else last + 1)


@lru_cache(maxsize=SOURCE_CACHE_SIZE)
def normalise(text: str) -> NormalisedText:
    """Normalise ``text`` like :func:`fold` and keep the offset map; cached.

    >>> n = normalise("The  A5117 \u2013 a road")
    >>> n.text, n.original_span(4, 9)
    ('the a5117 - a road', (5, 10))
    """
    stop = len(text.rstrip())
    start = min(len(text) - len(text.lstrip()), stop)
    folded = _folded_in_place(text)
    if folded is not None:  # the offset map is the identity
        return NormalisedText(text, folded[start:stop], range(start, stop + 1))
    return normalise_by_runs(text)


def normalise_by_runs(text: str) -> NormalisedText:
    """:func:`normalise` the general way, run by run of characters that do not map one to one
    (uncached; the reference of :func:`normalise`'s shortcut for text that folds in place).

    >>> normalise_by_runs("A\u00a0 b").text, list(normalise_by_runs("A\u00a0 b").offsets)
    ('a b', [0, 1, 3, 4])
    """
    stop = len(text.rstrip())
    start = min(len(text) - len(text.lstrip()), stop)
    builder = _Builder(text)
    cursor = start
    for match in _SPECIAL.finditer(text, start, stop):
        builder.plain(cursor, match.start())
        builder.replace(match.start(), match.end())
        cursor = match.end()
    builder.plain(cursor, stop)
    return builder.result()


def _folded_in_place(text: str) -> str | None:
    """The folded text when folding maps every character to exactly one character and leaves
    no whitespace to collapse (so a character keeps its offset), else ``None``.

    That is the case for printable text without double spaces that is already in NFKC and
    keeps its length when case-folded: most sources, accented or not.

    >>> _folded_in_place("L\u2019\u00c9t\u00e9 \u2014 OK"), _folded_in_place("Stra\u00dfe")
    ("l'été - ok", None)
    """
    if not printable(text) or "  " in text:  # printable: no Cf to drop, no other whitespace
        return None
    if text.isascii():
        return text.lower()
    if not unicodedata.is_normalized("NFKC", text):
        return None
    folded = _translate(text).casefold()
    return folded if len(folded) == len(text) else None


def _char_offsets(piece: str, start: int, folded: str) -> list[int]:
    """Offsets of ``folded`` (the normalised ``piece``) character by character when folding
    each character alone gives the same text; otherwise every character points at ``start``.

    >>> _char_offsets("\u00e9\ufb01", 10, "\u00e9fi")
    [10, 11, 11]
    """
    chars: list[str] = []
    offsets: list[int] = []
    for index, char in enumerate(piece):
        one = " " if char.isspace() else _fold_piece(char)
        if one == " " and chars and chars[-1] == " ":
            continue
        chars.extend(one)
        offsets.extend([start + index] * len(one))
    if folded.startswith(" ") is not (chars[:1] == [" "]):
        chars, offsets = chars[1:], offsets[1:]
    return offsets if "".join(chars) == folded else [start] * len(folded)


class _Builder:
    """Accumulates normalised pieces and their original offsets, one space at a time."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pieces: list[str] = []
        self.offsets: list[int] = []
        self.last_space = True  # no leading space
        self.kept_end = 0

    def plain(self, start: int, end: int) -> None:
        if end > start:
            self.pieces.append(self.text[start:end].lower())
            self.offsets.extend(range(start, end))
            self.last_space, self.kept_end = self.text[end - 1] == " ", end

    def replace(self, start: int, end: int) -> None:
        piece = self.text[start:end]
        if (unicodedata.combining(piece[0]) and self.offsets and self.offsets[-1] == start - 1
                and not self.text[start - 1].isspace()):
            self._unemit_last()  # compose the mark with its base letter
            start -= 1
            piece = self.text[start:end]
        folded = _fold_piece(piece)
        if self.last_space and folded.startswith(" "):
            folded = folded[1:]
        if not folded:
            return
        self.pieces.append(folded)
        self.offsets.extend(_char_offsets(piece, start, folded))
        self.last_space, self.kept_end = folded.endswith(" "), end

    def _unemit_last(self) -> None:
        self.pieces[-1] = self.pieces[-1][:-1]
        self.offsets.pop()

    def result(self) -> NormalisedText:
        normalised = "".join(self.pieces)
        offsets = self.offsets
        if normalised.endswith(" "):
            normalised, offsets = normalised[:-1], offsets[:-1]
        offsets.append(self.kept_end if offsets else 0)
        return NormalisedText(self.text, normalised, array("l", offsets))


_DEPENDENT_CACHE_CLEARS: list[Callable[[], None]] = []


def register_cache(clear: Callable[[], None]) -> None:
    """Have :func:`clear_caches` also call ``clear`` (a cache built on these texts elsewhere).

    >>> memo = {"key": "value"}; register_cache(memo.clear); clear_caches(); memo
    {}
    """
    _DEPENDENT_CACHE_CLEARS.append(clear)


def clear_caches() -> None:
    """Forget every cached normalised text, and what was built on them (see
    :func:`register_cache`); benchmarks use it to measure cold groups.

    >>> clear_caches(); fold.cache_info().currsize
    0
    """
    fold.cache_clear()
    fold_source.cache_clear()
    fold_sources.cache_clear()
    normalise.cache_clear()
    _fold_piece.cache_clear()
    for clear in _DEPENDENT_CACHE_CLEARS:
        clear()
