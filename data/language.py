"""Language identification for queries and answers (py3langid, restricted to our languages).

The py3langid model ships inside its wheel; it is loaded lazily, once per process, on the first
call (about a second, numpy included). Its classifier then runs in the native kernel
``data._langid`` (built from ``data/_langid.c`` at install; a few microseconds a call) when that
kernel is built and agrees with py3langid on :data:`SELF_CHECK_TEXTS`, else in py3langid itself
(tens of microseconds): :func:`language_backend` tells which. Refs are removed (quotes dropped)
before detecting, and text with fewer than :data:`MIN_LETTERS` letters gets a neutral ``None``
rather than a coin flip.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from array import array
from functools import lru_cache
from itertools import islice
from typing import Any, Callable

from data.format import SPECIAL_TOKENS, strip_refs
from data.kernels import checked_kernel
from data.schema import ISO_LANGUAGES

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


SELF_CHECK_TEXTS: tuple[str, ...] = (
    "Where was the first modern Olympic Games held?",
    "La ville est petite mais elle a une longue histoire.",
    "Er wohnt seit vielen Jahren in Berlin.",
    "La città si trova sulla riva del fiume.",
    "El puerto fue construido en el siglo diecinueve.",
    "Miasto leży nad rzeką i ma długą historię.",
    "A cidade fica perto do rio e tem uma longa história.",
    "Gallia est omnis divisa in partes tres.",
    "De stad ligt aan de rivier.",
    "THE ROAD RUNS BETWEEN SHOTWICK AND HELSBY.",
    "Café, naïve façade — 1945-1949 ✓",
)
"""Texts the native classifier must classify as py3langid does before it is used."""

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


def native_classifier(identifier: Any) -> Classify | None:
    """py3langid's ``classify`` (norm_probs) run by the native kernel on the identifier's own
    model arrays, or ``None`` when the kernel is not built or cannot take this model.

    >>> classify = native_classifier(_identifier())
    >>> classify is None or classify("Quelle est la capitale de la France ?")[0] == "fr"
    True
    """
    try:
        import numpy
        from data._langid import Model

        model = Model(nextmove=identifier.tk_nextmove,
                      rowbase=array("q", (row << 8 for row in identifier.tk_row)),
                      output=array("i", identifier.tk_output),
                      table=numpy.ascontiguousarray(identifier.nb_ptc, dtype=numpy.float32),
                      prior=numpy.ascontiguousarray(identifier.nb_pc, dtype=numpy.float32))
    except (ImportError, AttributeError, TypeError, ValueError):
        return None
    codes = tuple(str(code) for code in identifier.nb_classes)

    def classify(text: str) -> tuple[str, float]:
        if text.isupper():  # as py3langid encodes its input
            text = text.lower()
        index, confidence = model.classify(unicodedata.normalize("NFC", text).encode("utf8", "surrogatepass"))
        return codes[index], confidence

    return classify


def agrees_with(classify: Classify, reference: Classify, texts: tuple[str, ...] = SELF_CHECK_TEXTS) -> bool:
    """True when ``classify`` gives ``reference``'s language and confidence (within 1e-4) on ``texts``.

    >>> agrees_with(lambda text: ("en", 0.5), lambda text: ("en", 0.50001), ("a",))
    True
    >>> agrees_with(lambda text: ("en", 0.5), lambda text: ("fr", 0.5), ("a",))
    False
    """
    for text in texts:
        (code, confidence), (expected_code, expected_confidence) = classify(text), reference(text)
        if code != expected_code or abs(confidence - float(expected_confidence)) > 1e-4:
            return False
    return True


@lru_cache(maxsize=1)
def _classifier() -> Classify:
    """The classifier :func:`detect_language` uses: native when built and agreeing, else py3langid."""
    identifier = _identifier()
    native = checked_kernel(native_classifier(identifier),
                            lambda classify: agrees_with(classify, identifier.classify),
                            "data._langid disagrees with this py3langid version: using py3langid (slower)")
    return identifier.classify if native is None else native


def language_backend() -> str:
    """Which classifier detects languages in this process: ``"native"`` or ``"py3langid"``.

    >>> language_backend() in ("native", "py3langid")
    True
    """
    return "py3langid" if _classifier() == _identifier().classify else "native"


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
