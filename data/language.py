"""Language identification for queries and answers (py3langid, restricted to our languages).

The py3langid model ships inside its wheel; it is loaded lazily, once per process, on the first
call (about a second, numpy included). Refs are removed (quotes dropped)
before detecting, and text with fewer than :data:`MIN_LETTERS` letters gets a neutral ``None``
rather than a coin flip.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache
from itertools import islice
from typing import Any, Callable

from pleias_rl.data.format import SPECIAL_TOKENS, strip_refs
from pleias_rl.data.schema import ISO_LANGUAGES

DETECTABLE: tuple[str, ...] = tuple(ISO_LANGUAGES)
"""ISO 639-1 codes the detector chooses among (en fr de it es pl pt la nl)."""

MIN_LETTERS = 12
"""Fewer letters than this (after removing refs) is too short to judge: ``None``."""

MAX_CHARS = 5000
"""Only the first characters of a long text are classified (bounded time)."""

_LETTER = re.compile(r"[^\W\d_]")
_NAMES_TO_ISO: dict[str, str] = {name.lower(): code for code, name in ISO_LANGUAGES.items()}
_LOCK = threading.Lock()
_IDENTIFIER: list[Any] = []


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


Classify = Callable[[str], tuple[str, float]]


def _identifier() -> Any:
    """The py3langid identifier restricted to :data:`DETECTABLE`, loaded once (thread-safe)."""
    if not _IDENTIFIER:
        with _LOCK:
            if not _IDENTIFIER:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier

                identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
                identifier.set_languages(list(DETECTABLE))
                _IDENTIFIER.append(identifier)
    return _IDENTIFIER[0]


@lru_cache(maxsize=1)
def _classifier() -> Classify:
    """The classifier :func:`detect_language` uses: py3langid's, restricted to :data:`DETECTABLE`."""
    return _identifier().classify


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


def detect_language(text: object) -> tuple[str | None, float]:
    """Detect the language of a text: ``(iso_code, confidence)`` or ``(None, 0.0)``.

    Refs are removed first; text with fewer than :data:`MIN_LETTERS` letters is not judged.

    >>> detect_language("Quelle est la capitale de la France ?")[0]
    'fr'
    >>> detect_language('Er wohnt in Berlin<ref name="1">He lives in the capital city</ref> seit Jahren.')[0]
    'de'
    >>> detect_language("Helsby."), detect_language(None)
    ((None, 0.0), (None, 0.0))
    """
    if not isinstance(text, str):
        return None, 0.0
    return _detect(text[: 4 * MAX_CHARS])


@lru_cache(maxsize=4096)
def _detect(text: str) -> tuple[str | None, float]:
    """Cached detection: a GRPO group repeats one query for every completion."""
    words = prose(text)[:MAX_CHARS]
    if sum(1 for _ in islice(_LETTER.finditer(words), MIN_LETTERS)) < MIN_LETTERS:
        return None, 0.0
    code, confidence = _classifier()(words)
    return str(code), float(confidence)


def clear_cache() -> None:
    """Forget cached detections (benchmarks measure cold GRPO groups).

    >>> _ = detect_language("Where was the first modern Olympic Games held?"); clear_cache()
    >>> _detect.cache_info().currsize
    0
    """
    _detect.cache_clear()
