"""``format``: adherence to the Pleias section structure (docs/pleias-format.md).

Scoring is multiplicative: a fully well-formed output scores 1.0 and every violation found
multiplies the score by a factor below 1 (:data:`VIOLATION_FACTORS`), so each violation scores
strictly lower than its clean twin and more violations score lower still. An output whose answer
is missing, empty or truncated is capped at :data:`NO_ANSWER_CAP` (0.3).

Violations are the :func:`pleias_rl.data.format.parse_completion` errors (each carries its kind, a
:class:`pleias_rl.data.format.ParseErrorKind`), non-canonical ref tags, and cheap checks per
section: degenerate repetition (:func:`repetition_problem`, and :func:`degenerate_sequence` for
counting, symbol runs and loops of any period), a section without content (:func:`has_content`: no
letter or digit) and a language line that names no language.
"""

from __future__ import annotations

import re
import zlib
from typing import Any, NamedTuple, Sequence

from pleias_rl.data.format import ParsedCompletion, strip_refs
from pleias_rl.data.language import language_code
from pleias_rl.rewards.base import Reward, Score, ScoredCompletion

NO_ANSWER_CAP = 0.3
"""The highest format score of an output without a closed, non-empty answer."""

VIOLATION_FACTORS: dict[str, float] = {
    "no_answer": NO_ANSWER_CAP,
    "truncated": NO_ANSWER_CAP,
    "empty_answer": NO_ANSWER_CAP,
    "repetition": 0.4,
    "text_after_answer": 0.6,
    "out_of_order": 0.7,
    "duplicate_section": 0.7,
    "missing_section": 0.75,
    "missing_language": 0.8,
    "bad_language": 0.5,
    "unmatched_token": 0.8,
    "empty_section": 0.5,
    "invalid_label": 0.8,
    "ref_outside_answer": 0.8,
    "malformed_ref": 0.8,
    "stray_text": 0.85,
    "unexpected_token": 0.85,
    "other": 0.8,
}
"""Score factor per violation kind (each occurrence multiplies the score once): every
:class:`pleias_rl.data.format.ParseErrorKind`, ``repetition``, and ``other`` for a kind this
table does not know."""

_CANONICAL_REF = re.compile(r'<ref name="(?:<\|source_id\|>)?\d{1,9}">')
_NGRAM = 4
_MIN_NGRAMS = 16
_MAX_REPEATED_NGRAMS = 0.4
_MIN_COMPRESS_BYTES = 300
_MIN_COMPRESS_RATIO = 0.25
_MAX_CHECKED_CHARS = 20_000
_MIN_COUNTING_RUN = 12
_MIN_PERIODIC_CHARS = 30
_PERIOD_PROBE = 8
_MIN_SYMBOL_RUN = 12
_SYMBOL_RUN = re.compile(r"[^\w\s](?:\s*[^\w\s]){%d,}" % (_MIN_SYMBOL_RUN - 1))
_INTEGER = re.compile(r"\d+")
_ALNUM = re.compile(r"[^\W_]")
_ASCII_DIGITS = b"0123456789"
_ASCII_WORD_OR_SPACE = bytes(set(_ASCII_DIGITS) | set(range(65, 91)) | set(range(97, 123))
                             | set(b"_ \t\n\r\f\v\x1c\x1d\x1e\x1f"))
"""The ASCII bytes that ``\\w`` or ``\\s`` match: a symbol is neither."""
_NOT_DIGIT = bytes(set(range(128)) - set(_ASCII_DIGITS))
"""The ASCII bytes that are not digits (every byte of a non-ASCII character may be one)."""
_MIN_CHECKED_CHARS = min(2 * (_MIN_NGRAMS + _NGRAM - 1) - 1, -(-_MIN_COMPRESS_BYTES // 4))
"""Shorter text holds too few words for the 4-gram test and too few bytes to compress."""


def repetition_problem(text: str) -> str | None:
    """Describe a degenerate repetition loop in ``text``, or return ``None``.

    Two cheap signals, both linear: the share of repeated word 4-grams (natural prose in the
    HotpotQA sources stays under 0.09; a loop is far above 0.4) and the zlib compression ratio
    (natural text >= 0.43 at level 1; a character loop without spaces compresses far below 0.25).

    >>> repetition_problem("The answer is Paris and it is big. " * 8)
    'repeated word 4-grams: 0.87'
    >>> repetition_problem("ab" * 400)
    'compresses to 0.03 of its size'
    >>> repetition_problem("Helsby is a village in Cheshire, England.") is None
    True
    """
    if len(text) < _MIN_CHECKED_CHARS:  # a report label, a short draft
        return None
    text = text[:_MAX_CHECKED_CHARS]
    words = text.lower().split()
    count = len(words) - _NGRAM + 1
    # a 4-gram starts at the first occurrence of each distinct word but the last three:
    # at least that many distinct 4-grams, which settles most prose without building them
    if count >= _MIN_NGRAMS and 1 - (len(set(words)) - _NGRAM + 1) / count > _MAX_REPEATED_NGRAMS:
        distinct = len(set(zip(*(words[shift:] for shift in range(_NGRAM)))))
        repeated = 1 - distinct / count
        if repeated > _MAX_REPEATED_NGRAMS:
            return f"repeated word 4-grams: {repeated:.2f}"
    if 4 * len(text) < _MIN_COMPRESS_BYTES:  # UTF-8 takes at most 4 bytes a character
        return None
    raw = text.encode("utf-8", errors="replace")
    if len(raw) >= _MIN_COMPRESS_BYTES:
        ratio = len(zlib.compress(raw, 1)) / len(raw)
        if ratio < _MIN_COMPRESS_RATIO:
            return f"compresses to {ratio:.2f} of its size"
    return None


class Violation(NamedTuple):
    """One format violation: its kind (a key of :data:`VIOLATION_FACTORS`) and what was found
    (``_asdict()`` is its diagnostics dict)."""

    kind: str
    detail: str


def has_content(text: str) -> bool:
    """True when ``text`` holds a letter or a digit (zero-width characters and dots do not count).

    >>> has_content(" . "), has_content("\u200b\u200d"), has_content("Helsby"), has_content("42")
    (False, False, True, True)
    """
    return _ALNUM.search(text) is not None


def counting_run(numbers: Sequence[int]) -> int:
    """The longest run of integers stepping by one constant (``0 1 2 ... 399``, ``5 10 15``).

    >>> counting_run(range(400)), counting_run([1990, 1994, 2001]), counting_run([5, 10, 15, 3])
    (400, 2, 3)
    """
    best = run = min(len(numbers), 1)
    for index in range(1, len(numbers)):
        step = numbers[index] - numbers[index - 1]
        same = index >= 2 and step != 0 and step == numbers[index - 1] - numbers[index - 2]
        run = run + 1 if same else 2
        best = max(best, run)
    return best


def periodic_tail(text: str) -> int | None:
    """The period of a loop the text ends in (its last half repeats a unit three times or more),
    or ``None``: one substring search and one comparison, whatever the period.

    >>> periodic_tail("The answer is Helsby. " + "ab, " * 20), periodic_tail("Helsby is a village.") is None
    (4, True)
    """
    tail = text[:_MAX_CHECKED_CHARS].rstrip()
    tail = tail[len(tail) // 2:]
    if len(tail) < _MIN_PERIODIC_CHARS:
        return None
    period = tail.find(tail[:_PERIOD_PROBE], 1)
    if 0 < period <= len(tail) // 3 and tail[period:] == tail[:-period]:
        return period
    return None


def degenerate_sequence(text: str) -> str | None:
    """Describe a degenerate sequence the n-gram and compression tests miss, or ``None``:
    counting (:func:`counting_run` of 12 or more), a run of 12 or more symbols, or a loop of
    any period (:func:`periodic_tail`).

    >>> degenerate_sequence(" ".join(map(str, range(400))))
    'counts through 400 numbers'
    >>> degenerate_sequence("Yes " + "!" * 20), degenerate_sequence("Helsby " + "xyz" * 25)
    ('a run of 20 symbols', 'loops with period 3')
    >>> degenerate_sequence("It was built in 1990, 1991 and 1992 (…) and rebuilt.") is None
    True
    """
    text = text[:_MAX_CHECKED_CHARS]
    if len(text) < _MIN_SYMBOL_RUN:
        return None
    # upper bounds from the bytes, counting every byte of a non-ASCII character (exact on ASCII):
    # fewer digits than a counting run, or fewer symbols than a symbol run, settle it unsearched
    raw = text.encode("utf-8", "surrogatepass")
    if len(raw.translate(None, _NOT_DIGIT)) >= _MIN_COUNTING_RUN:
        counted = counting_run([int(token) for token in _INTEGER.findall(text) if len(token) < 12])
        if counted >= _MIN_COUNTING_RUN:
            return f"counts through {counted} numbers"
    symbols_at_most = len(raw.translate(None, _ASCII_WORD_OR_SPACE))
    symbols = _SYMBOL_RUN.search(text) if symbols_at_most >= _MIN_SYMBOL_RUN else None
    if symbols is not None:
        return f"a run of {len(symbols.group().replace(' ', ''))} symbols"
    period = periodic_tail(text) if len(text) >= 2 * _MIN_PERIODIC_CHARS else None
    return None if period is None else f"loops with period {period}"


def content_violations(parsed: ParsedCompletion) -> list[Violation]:
    """Sections whose content holds no letter or digit (empty for the parser's eyes or not), and
    a language line that names no language (:func:`pleias_rl.data.language.language_code`).

    >>> from pleias_rl.data.format import parse_completion
    >>> content_violations(parse_completion("Klingon<|language_end|><|query_analysis_start|>."
    ...                                     "<|query_analysis_end|><|answer_start|>\u200b<|answer_end|>"))
    ... # doctest: +NORMALIZE_WHITESPACE
    [Violation(kind='bad_language', detail="language line 'Klingon' names no supported language"),
     Violation(kind='empty_section', detail='section query_analysis has no letter or digit'),
     Violation(kind='empty_answer', detail='section answer has no letter or digit')]
    """
    violations: list[Violation] = []
    if parsed.language is not None and language_code(parsed.language) is None:
        violations.append(Violation("bad_language",
                                     f"language line {parsed.language!r} names no supported language"))
    for section in parsed.sections:
        content = section.content
        if not section.closed or not content.strip() or has_content(content if section.name != "answer" else (
                parsed.prose or "") + "".join(citation.quote for citation in parsed.citations)):
            continue  # truncated, or already reported empty by the parser, or fine
        kind = "empty_answer" if section.name == "answer" else "empty_section"
        violations.append(Violation(kind, f"section {section.name} has no letter or digit"))
    return violations


def format_violations(parsed: ParsedCompletion) -> list[Violation]:
    """Every format violation of a parsed completion, in order found.

    >>> from pleias_rl.data.format import parse_completion
    >>> [kind for kind, _ in format_violations(parse_completion("English<|language_end|><|answer_start|>Hi"))]
    ... # doctest: +NORMALIZE_WHITESPACE
    ['truncated', 'missing_section', 'missing_section', 'missing_section', 'missing_section',
     'missing_section']
    """
    violations = [Violation(error.kind.value, error.detail) for error in parsed.errors]
    for citation in parsed.citations:
        tag = parsed.text[citation.span[0]:citation.quote_span[0]]
        if citation.source_id is not None and not _CANONICAL_REF.fullmatch(tag):
            violations.append(Violation("malformed_ref", f"non-canonical ref tag {tag[:60]!r}"))
    violations += content_violations(parsed)
    answer = parsed.section("answer")
    for section in parsed.sections:
        content = section.content
        if section is answer:
            content = parsed.prose or ""
        elif section.name == "answer":
            content = strip_refs(content)
        problem = repetition_problem(content) or degenerate_sequence(content)
        if problem is not None:
            violations.append(Violation("repetition", f"{section.name}: {problem}"))
    return violations


def format_score(violations: list[Violation]) -> float:
    """The format score of a list of violations: the product of their factors.

    >>> format_score([]), format_score([Violation("stray_text", "")])
    (1.0, 0.85)
    >>> format_score([Violation("truncated", ""), Violation("stray_text", "")])
    0.255
    """
    score = 1.0
    for violation in violations:
        score *= VIOLATION_FACTORS.get(violation.kind, VIOLATION_FACTORS["other"])
    return round(score, 6)


class FormatReward(Reward):
    """Score adherence to the Pleias output structure: 1.0 only for a fully well-formed output.

    Checked: the language line; sections in order, each opened and closed once and non-empty;
    valid query/source report labels; the Trivial (or refusal) path may skip source analysis,
    source report and draft, the full path may not; refs only inside the answer and well formed;
    nothing but EOS after ``<|answer_end|>``; no degenerate repetition. Missing, empty or
    truncated answers score at most 0.3. Diagnostics list each violation.

    >>> from pleias_rl.data.format import render_completion
    >>> clean = render_completion(language="English", query_analysis="Easy.", query_report="Trivial",
    ...                           answer='Helsby<ref name="<|source_id|>1">in Helsby</ref>.')
    >>> format_reward(completions=[clean, clean + " and more", clean[:-40]])
    [1.0, 0.51, 0.24]
    """

    name = "format"

    def score_completion(self, completion: ScoredCompletion) -> tuple[Score, dict[str, Any]]:
        """Score one completion; the row is not needed (structure only)."""
        parsed = completion.parsed
        violations = self.violations(completion)
        score = format_score(violations)
        return score, {
            "violations": [violation._asdict() for violation in violations],
            "path": "trivial" if parsed.is_trivial else "full",
            "metrics": {"clean": float(not violations), "truncated": float(parsed.truncated)},
        }


    def violations(self, completion: ScoredCompletion) -> list[Violation]:
        """The typed violations of a scored completion, found once per completion.

        >>> from pleias_rl.rewards.base import ScoredCompletion
        >>> format_reward.violations(ScoredCompletion("English<|language_end|>", {}))[-1]
        Violation(kind='no_answer', detail='missing section answer')
        """
        found = completion.derived.get("format_violations")
        if found is None:
            found = completion.derived["format_violations"] = format_violations(completion.parsed)
        return found


format_reward = FormatReward()
"""The default :class:`FormatReward` instance (TRL reward function ``format``)."""
