"""Language identification for queries and answers (py3langid, all its languages ranked).

py3langid was chosen by measurement (``benchmarks/bench_langid.py``): its model ships inside its
wheel (nothing is downloaded), it is small and fast, it covers Latin, and it ranks 142 labels
including ``zxx`` (no linguistic content), so one ranking says both which of our languages a text
is closest to and whether it is in another language altogether, or in none. The model is loaded
lazily, once per process, on the first call (under a second, numpy included). Refs are removed
(quotes dropped) before detecting, and text with fewer than :data:`MIN_LETTERS` letters gets a
neutral ``None`` rather than a coin flip.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from typing import Any, Callable, NamedTuple

from pleias_rl.data.format import SPECIAL_TOKENS, strip_refs
from pleias_rl.data.schema import ISO_LANGUAGES
from pleias_rl.data.wordlists import FUNCTION_WORDS

DETECTABLE: tuple[str, ...] = tuple(ISO_LANGUAGES)
"""ISO 639-1 codes the detector chooses among (en fr de it es pl pt la nl)."""

NO_LANGUAGE = "zxx"
"""py3langid's label for text with no linguistic content (gibberish, symbol runs)."""

MIN_LETTERS = 12
"""Fewer letters than this (after removing refs) is too short to judge: ``None``."""

MAX_CHARS = 5000
"""Only the first characters of a long text are classified (bounded time)."""

WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
"""A word: letters, with inner apostrophes (``l'Aquila``, ``don't``)."""

_DETECTABLE_SET = frozenset(DETECTABLE)
_NON_LATIN_RUN = re.compile(r"[^\u0000-\u024f\u1e00-\u1eff\u2000-\u206f\s\d]+")
_NAMES_TO_ISO: dict[str, str] = {name.lower(): code for code, name in ISO_LANGUAGES.items()}
_LOCK = threading.Lock()
_IDENTIFIER: list[Any] = []


class LanguageScores(NamedTuple):
    """What one ranking says of a text.

    ``best`` is the likeliest of :data:`DETECTABLE` and ``best_share`` its probability among
    them only (what a detector restricted to our languages answers); ``top`` is the likeliest of
    every label py3langid knows (another language, or :data:`NO_LANGUAGE`) and ``top_share`` its
    probability among all of them; ``supported_share`` is the total probability of :data:`DETECTABLE`.
    """

    best: str
    best_share: float
    top: str
    top_share: float
    supported_share: float


def language_name(code: str | None) -> str | None:
    """The English name of an ISO 639-1 code (the name the model writes), or ``None``.

    >>> language_name("fr"), language_name("xx"), language_name(None)
    ('French', None, None)
    """
    return ISO_LANGUAGES.get(code.strip().lower()) if isinstance(code, str) else None


def language_code(name_or_code: str | None) -> str | None:
    """The ISO 639-1 code of an English language name or of a code itself, or ``None``.

    Case and surrounding spaces/periods are ignored.

    >>> language_code("Italian"), language_code(" english. "), language_code("PT"), language_code("Klingon")
    ('it', 'en', 'pt', None)
    """
    if not isinstance(name_or_code, str):
        return None
    key = name_or_code.strip().strip(".").strip().lower()
    if key in ISO_LANGUAGES:
        return key
    return _NAMES_TO_ISO.get(key)


Rank = Callable[[str], list[tuple[str, float]]]


def _identifier() -> Any:
    """The py3langid identifier over all its languages (probabilities), loaded once (thread-safe)."""
    if not _IDENTIFIER:
        with _LOCK:
            if not _IDENTIFIER:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier

                _IDENTIFIER.append(LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True))
    return _IDENTIFIER[0]


@lru_cache(maxsize=1)
def _classifier() -> Rank:
    """The ranking :func:`language_scores` reads: py3langid's ``rank`` (probability per label)."""
    return _identifier().rank


def prose(text: str) -> str:
    """The writer's own words: refs removed (quotes dropped) and special tokens blanked.

    >>> prose('La ville<ref name="<|source_id|>1">the town of Helsby</ref> est petite.')
    'La ville est petite.'
    """
    text = strip_refs(text)
    if "<|" in text:
        for token in SPECIAL_TOKENS:
            text = text.replace(token, " ")
    return text


def has_letters(text: str, count: int) -> bool:
    """True when a text holds at least ``count`` letters: one anchored match that stops at the
    last letter needed.

    >>> has_letters("A5117, 12 km!", 3), has_letters("A5117, 12 km!", 4), has_letters("", 0)
    (True, False, True)
    """
    return _letters_pattern(count).match(text) is not None


@lru_cache(maxsize=None)
def _letters_pattern(count: int) -> re.Pattern[str]:
    """``count`` letters, each after the non-letters before it, taken atomically (a lookahead's
    group matched again: Python 3.10 has no possessive ``*+``), so a failure does not backtrack."""
    return re.compile(r"(?:(?=([\W\d_]*))\1[^\W\d_]){%d}" % count)


def latin_share(text: str) -> float:
    """Share of a text's letters that are Latin script (1.0 for a text without letters).

    >>> latin_share("Paris"), latin_share("Москва is a hub"), latin_share("42")
    (1.0, 0.5, 1.0)
    """
    if text.isascii():
        return 1.0
    letters = [char for char in text if char.isalpha()]
    if not letters:
        return 1.0
    latin = sum(1 for char in letters if char < "\u0250" or "\u1e00" <= char <= "\u1eff")
    return latin / len(letters)


def words(text: str) -> list[str]:
    """The words of a text (letters, inner apostrophes kept; digits and punctuation dropped).

    >>> words("L'Aquila's 2 towers, d'Annunzio!")
    ["L'Aquila's", 'towers', "d'Annunzio"]
    """
    return WORD.findall(text)


def latin_letters_only(text: str) -> str:
    """The text with every run of characters outside Latin script blanked (letters and their
    combining marks; digits, spaces and general punctuation kept).

    >>> latin_letters_only("Sathish Kalathil (മലയാളം) is a director.")
    'Sathish Kalathil ( ) is a director.'
    """
    if text.isascii():
        return text
    return _NON_LATIN_RUN.sub(" ", text)


def content_words(text_words: list[str], language: str) -> list[str]:
    """The words that are not function words of ``language`` (:data:`pleias_rl.data.wordlists.FUNCTION_WORDS`).

    >>> content_words(words("The city of the dead is in the north."), "en")
    ['city', 'dead', 'north']
    """
    function_words = FUNCTION_WORDS.get(language, frozenset())
    return [word for word in text_words if word.lower() not in function_words]


def scores_of_ranking(ranking: list[tuple[str, float]]) -> LanguageScores:
    """Read a py3langid ranking (probabilities over every label, best first).

    >>> scores = scores_of_ranking([("ru", 0.6), ("en", 0.3), ("fr", 0.1)])
    >>> scores.top, scores.top_share, scores.best, round(scores.best_share, 2), round(scores.supported_share, 2)
    ('ru', 0.6, 'en', 0.75, 0.4)
    """
    top, top_share = ranking[0]
    supported = [(label, share) for label, share in ranking if label in _DETECTABLE_SET]
    best, best_share = supported[0]
    supported_share = sum(share for _, share in supported)
    return LanguageScores(best=best, best_share=best_share / supported_share if supported_share > 0 else 0.0,
                          top=top, top_share=top_share, supported_share=supported_share)


def language_scores(text: object) -> LanguageScores | None:
    """Rank a text's language (refs removed first), or ``None`` below :data:`MIN_LETTERS` letters.

    >>> language_scores("Москва — столица России и крупнейший город страны.").top
    'ru'
    >>> language_scores("Xkrtz bvwlq mnprst gzhkl vbnm trqwz plkjh.").top
    'zxx'
    >>> language_scores("Helsby.") is None
    True
    """
    if not isinstance(text, str):
        return None
    return _scores(text[: 4 * MAX_CHARS])


@lru_cache(maxsize=4096)
def _scores(text: str) -> LanguageScores | None:
    """Cached ranking: a GRPO group repeats one query for every completion."""
    words = prose(text)[:MAX_CHARS]
    if not has_letters(words, MIN_LETTERS):
        return None
    return scores_of_ranking(_classifier()(words))


def likeliest_label(text: str, min_letters: int = MIN_LETTERS) -> tuple[str, float] | None:
    """The likeliest of every label py3langid knows and its probability (one ``classify``, no
    ranking: the cheap question), or ``None`` below ``min_letters`` letters.

    >>> likeliest_label("The city was founded by merchants who settled near the harbour.")[0]
    'en'
    >>> likeliest_label("Paris.") is None, likeliest_label("The answer is 1924.", min_letters=6)[0]
    (True, 'en')
    """
    return _likeliest(text[:MAX_CHARS], min_letters)


@lru_cache(maxsize=4096)
def _likeliest(text: str, min_letters: int) -> tuple[str, float] | None:
    """Cached :func:`likeliest_label`."""
    if not has_letters(text, min_letters):
        return None
    label, probability = _identifier().classify(text)
    return str(label), float(probability)


def detect_language(text: object) -> tuple[str | None, float]:
    """Detect the language of a text among :data:`DETECTABLE`: ``(iso_code, confidence)`` or ``(None, 0.0)``.

    Refs are removed first; text with fewer than :data:`MIN_LETTERS` letters is not judged. The
    confidence is the probability among our languages only (see :func:`language_scores` for the
    ranking over all languages).

    >>> detect_language("Quelle est la capitale de la France ?")[0]
    'fr'
    >>> detect_language('Er wohnt in Berlin<ref name="1">He lives in the capital city</ref> seit Jahren.')[0]
    'de'
    >>> detect_language("Helsby."), detect_language(None)
    ((None, 0.0), (None, 0.0))
    """
    scores = language_scores(text)
    if scores is None or scores.best_share == 0.0:  # too short, or no trace of any of our languages
        return None, 0.0
    return scores.best, scores.best_share


def clear_cache() -> None:
    """Forget cached detections (benchmarks measure cold GRPO groups).

    >>> _ = detect_language("Where was the first modern Olympic Games held?"); clear_cache()
    >>> _scores.cache_info().currsize
    0
    """
    _scores.cache_clear()
    _likeliest.cache_clear()
