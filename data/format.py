"""The Pleias-RAG input/output format: special tokens, prompt building, tolerant parsing.

Everything that reads or writes the format goes through this module (see
``docs/pleias-format.md`` in the shared folder). No heavy imports: scoring starts fast.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from typing import Callable, Iterable, Sequence


SPECIAL_TOKENS: tuple[str, ...] = (
    "<|query_start|>", "<|query_end|>", "<|source_start|>", "<|source_id|>", "<|source_end|>",
    "<|language_start|>", "<|language_end|>", "<|query_analysis_start|>", "<|query_analysis_end|>",
    "<|query_report_start|>", "<|query_report_end|>", "<|source_analysis_start|>",
    "<|source_analysis_end|>", "<|source_report_start|>", "<|source_report_end|>",
    "<|draft_start|>", "<|draft_end|>", "<|answer_start|>", "<|answer_end|>",
)
"""The 19 Pleias special tokens, in vocabulary order (ids 65517..65535 in the real models)."""

EOS_TOKEN = "<|end_of_text|>"
"""End of sequence of the Pleias models."""

OTHER_EOS_TOKENS: tuple[str, ...] = ("<|endoftext|>", "<|im_end|>", "</s>", "<|eot_id|>")
"""End-of-sequence strings of other base models, tolerated at the end of a completion."""

SECTIONS: tuple[str, ...] = (
    "query_analysis", "query_report", "source_analysis", "source_report", "draft", "answer",
)
"""Generated sections after the language line, in their required order."""

TRIVIAL_SKIPPED: frozenset[str] = frozenset({"source_analysis", "source_report", "draft"})
"""Sections the Trivial path goes without."""

SHORT_PATH_LABELS: frozenset[str] = frozenset({"Trivial", "Unclear", "Refused"})
"""Query-report labels whose path may skip :data:`TRIVIAL_SKIPPED` (answer directly or decline)."""

QUERY_REPORT_LABELS: dict[str, str] = {
    "trivial": "Trivial", "answerable": "Answerable", "reformulated": "Reformulated",
    "reformulation": "Reformulated", "unclear": "Unclear", "refused": "Refused",
}
"""Accepted query-report labels (case-insensitive) mapped to their canonical spelling."""

SOURCE_REPORT_LABELS: dict[str, str] = {
    "extensive": "Extensive", "basic": "Basic", "incomplete": "Incomplete",
    "infeasible": "Infeasible",
}
"""Accepted source-report labels (case-insensitive) mapped to their canonical spelling."""

ELISION_MARKERS: tuple[str, ...] = ("(…)", "(...)", "[…]", "[...]", "…")
"""Markers that shorten a quote; fragments around them must occur in order in the source."""

_EOS_TOKENS = (EOS_TOKEN, *OTHER_EOS_TOKENS)
_SECTION_TOKENS: dict[str, tuple[str, bool]] = {
    f"{name}_{edge}": (name, edge == "start") for name in SECTIONS for edge in ("start", "end")}
"""Structure token name (``answer_start``) -> (section, True for a start token)."""
_SECTION_RANK = {name: rank for rank, name in enumerate(SECTIONS)}
_GUARD = "\u2060"  # WORD JOINER: invisible, never part of a special token.
_INJECTION = re.compile(r"<(?=\||/?ref\b)", re.IGNORECASE)
_TOKEN = re.compile(r"<\|([a-z_]{1,40})\|>")
_REF_OPEN = re.compile(r"<ref\b(?:[^<>]|<\|source_id\|>){0,200}>", re.IGNORECASE)
_REF_CLOSE = re.compile(r"</ref\s*>", re.IGNORECASE)
_REF_NAME = re.compile(
    r"""name\s*=\s*["']?\s*(?:<\|source_id\|>)?\s*([^"'>\s]*)""", re.IGNORECASE
)
_LAST_SENTENCE_END = re.compile(r"(?s:.*)(?:[.!?;:]\s|\n)")  # greedy: the last one
_STRUCTURE_TOKEN = re.compile(r"<\|(?!source_id\|>)([a-z_]{1,40})\|>")  # refs hold source_id
_CANONICAL_REF_HEAD = '<ref name="<|source_id|>'
_MAX_SOURCE_ID_DIGITS = 9


def neutralise(text: str) -> str:
    """Make special-token strings and ``<ref``/``</ref>`` inert inside user text.

    An invisible WORD JOINER (U+2060) is put after the ``<``: the text reads the same, no
    tokenizer matches it as a special token and no parser sees a tag. Quote matching drops
    the joiner again (``rewards`` normalisation), so quotes of such text still match.

    >>> neutralise("see <|answer_start|> and </ref>") == "see <\\u2060|answer_start|> and <\\u2060/ref>"
    True
    """
    return _INJECTION.sub("<" + _GUARD, text)


def build_prompt(query: str, sources: Sequence[str]) -> str:
    """Build the Pleias prompt for a query and source texts, numbered from 1.

    Identical to the upstream library except that special-token strings and ref tags
    inside the query or a source are neutralised (:func:`neutralise`).

    >>> print(build_prompt("Who?", ["Ann did.", "Bob did not."]), end="|")
    <|query_start|>Who?<|query_end|>
    <|source_start|><|source_id|>1 Ann did.<|source_end|>
    <|source_start|><|source_id|>2 Bob did not.<|source_end|>
    <|language_start|>
    |
    """
    parts = [f"<|query_start|>{neutralise(query)}<|query_end|>\n"]
    for number, text in enumerate(sources, start=1):
        parts.append(f"<|source_start|><|source_id|>{number} {neutralise(text)}<|source_end|>\n")
    parts.append("<|language_start|>\n")
    return "".join(parts)


class ParseErrorKind(str, Enum):
    """What is wrong with a completion's structure (each :class:`ParseError` has one kind).

    The values are the violation kinds of :data:`pleias_rl.rewards.format.VIOLATION_FACTORS`.
    """

    NO_ANSWER = "no_answer"
    TRUNCATED = "truncated"
    EMPTY_ANSWER = "empty_answer"
    MISSING_LANGUAGE = "missing_language"
    BAD_LANGUAGE = "bad_language"
    MISSING_SECTION = "missing_section"
    OUT_OF_ORDER = "out_of_order"
    DUPLICATE_SECTION = "duplicate_section"
    UNMATCHED_TOKEN = "unmatched_token"
    EMPTY_SECTION = "empty_section"
    INVALID_LABEL = "invalid_label"
    REF_OUTSIDE_ANSWER = "ref_outside_answer"
    MALFORMED_REF = "malformed_ref"
    TEXT_AFTER_ANSWER = "text_after_answer"
    STRAY_TEXT = "stray_text"
    UNEXPECTED_TOKEN = "unexpected_token"


class ParseError(str):
    """One parser error: the English message (the string itself, for display and JSON) and its
    :attr:`kind`, which is what programs read.

    >>> error = ParseError(ParseErrorKind.TRUNCATED, "section answer is not closed (truncated output?)")
    >>> error.kind.value, error.detail, error == "section answer is not closed (truncated output?)"
    ('truncated', 'section answer is not closed (truncated output?)', True)
    """

    __slots__ = ("kind",)
    kind: ParseErrorKind

    def __new__(cls, kind: ParseErrorKind, detail: str) -> "ParseError":
        error = super().__new__(cls, detail)
        error.kind = kind
        return error

    @property
    def detail(self) -> str:
        """The message, a plain ``str``."""
        return str.__str__(self)

    def __reduce__(self) -> tuple[type, tuple[ParseErrorKind, str]]:
        return ParseError, (self.kind, self.detail)


_Kind = ParseErrorKind

_SECTION_FAULTS: dict[str, dict[str, ParseErrorKind]] = {
    "missing": {"answer": _Kind.NO_ANSWER},
    "unclosed": {"answer": _Kind.TRUNCATED},
    "empty": {"answer": _Kind.EMPTY_ANSWER},
}
"""Faults that have a kind of their own when the section is the answer."""


def _section_fault(fault: str, name: str, default: ParseErrorKind, detail: str) -> ParseError:
    return ParseError(_SECTION_FAULTS[fault].get(name, default), detail)


@dataclass(frozen=True)
class Section:
    """One generated section: its name, content and character offsets in the parsed text."""

    name: str
    content: str
    start: int
    end: int
    closed: bool

    def __init__(self, name: str, content: str, start: int, end: int, closed: bool) -> None:
        # The parser makes many: fill the instance dict directly, not one frozen setattr per
        # field (nor a keyword dict to update it with).
        fields = self.__dict__
        fields["name"], fields["content"], fields["start"], fields["end"], fields["closed"] = (
            name, content, start, end, closed)


@dataclass(frozen=True)
class Citation:
    """One ``<ref>`` in the answer.

    ``source_id`` is ``None`` when the id is not a number (``raw_id`` keeps what was written);
    ``span`` covers the whole tag in the parsed text, ``quote_span`` the quote alone;
    ``claim`` is the answer text the citation supports (refs removed).
    """

    source_id: int | None
    raw_id: str
    quote: str
    span: tuple[int, int]
    quote_span: tuple[int, int]
    claim: str
    closed: bool

    def __init__(self, source_id: int | None, raw_id: str, quote: str, span: tuple[int, int],
                 quote_span: tuple[int, int], claim: str, closed: bool) -> None:
        # As Section: the instance dict filled directly instead of seven frozen setattrs.
        fields = self.__dict__
        fields["source_id"], fields["raw_id"], fields["quote"], fields["span"] = source_id, raw_id, quote, span
        fields["quote_span"], fields["claim"], fields["closed"] = quote_span, claim, closed


@dataclass
class ParsedCompletion:
    """The result of :func:`parse_completion`: sections, labels, citations and errors."""

    text: str
    language: str | None = None
    sections: list[Section] = field(default_factory=list)
    query_report: str | None = None
    source_report: str | None = None
    citations: list[Citation] = field(default_factory=list)
    errors: list[ParseError] = field(default_factory=list)
    ended: bool = False

    def section(self, name: str) -> Section | None:
        """Return the first section called ``name``, or ``None``.

        >>> parse_completion("English<|language_end|><|answer_start|>Hi<|answer_end|>").section("answer").content
        'Hi'
        """
        for section in self.sections:
            if section.name == name:
                return section
        return None

    @property
    def answer(self) -> str | None:
        """The answer text (refs included), or ``None`` when there is no answer section.

        >>> parse_completion("English<|language_end|>").answer is None
        True
        """
        found = self.section("answer")
        return None if found is None else found.content

    @cached_property
    def prose(self) -> str | None:
        """The answer without its refs (tags and quotes), or ``None`` when there is no answer.

        The same text as :func:`strip_refs` of the answer, cut from the parsed citation spans
        (no re-scan) and computed once: the format, language and gold rewards all read it.

        >>> parse_completion('E<|language_end|><|answer_start|>A<ref name="1">q</ref>b.<|answer_end|>').prose
        'Ab.'
        """
        answer = self.section("answer")
        if answer is None:
            return None
        pieces = []
        cursor = answer.start
        for citation in self.citations:
            pieces.append(self.text[cursor:citation.span[0]])
            cursor = citation.span[1]
        pieces.append(self.text[cursor:answer.end])
        return "".join(pieces)

    @property
    def truncated(self) -> bool:
        """True when the output stops before a closed answer (e.g. the token limit hit).

        >>> parse_completion("English<|language_end|><|answer_start|>Half an ans").truncated
        True
        """
        found = self.section("answer")
        return found is None or not found.closed

    @property
    def is_trivial(self) -> bool:
        """True when the query report chose the short Trivial path.

        >>> parse_completion("English<|language_end|><|query_report_start|>trivial<|query_report_end|>").is_trivial
        True
        """
        return self.query_report == "Trivial"

    @property
    def is_refusal(self) -> bool:
        """True when the reports decline to answer (Unclear/Refused query, Infeasible sources).

        >>> parse_completion("English<|language_end|><|source_report_start|>Infeasible<|source_report_end|>").is_refusal
        True
        """
        return self.query_report in {"Unclear", "Refused"} or self.source_report == "Infeasible"


def strip_prompt(text: str) -> tuple[str, int]:
    """Remove a leading prompt or ``<|language_start|>``; return the rest and its offset.

    >>> strip_prompt("<|query_start|>q<|query_end|>\\n<|language_start|>\\nEnglish")
    ('English', 49)
    >>> strip_prompt("English")
    ('English', 0)
    """
    head = text.lstrip()
    offset = len(text) - len(head)
    if head.startswith("<|query_start|>") or head.startswith("<|language_start|>"):
        marker = head.find("<|language_start|>")
        if marker >= 0:
            cut = marker + len("<|language_start|>")
            while cut < len(head) and head[cut] in "\r\n":
                cut += 1
            return head[cut:], offset + cut
    return text, 0


def _strip_eos(text: str) -> tuple[str, bool]:
    """Drop trailing whitespace and end-of-sequence strings; say whether one was there."""
    body = text.rstrip()
    ended = False
    while body.endswith(_EOS_TOKENS):  # no EOS string ends another: one matches at a time
        eos = next(token for token in _EOS_TOKENS if body.endswith(token))
        body = body[: -len(eos)].rstrip()
        ended = True
    return body, ended


def parse_completion(text: object) -> ParsedCompletion:
    """Parse a Pleias completion tolerantly; never raises.

    Accepts the completion with or without the prompt or ``<|language_start|>``, with or
    without a final ``<|end_of_text|>``, ``<ref name="<|source_id|>3">`` and ``<ref name="3">``,
    quotes spanning newlines and unclosed refs. Offsets refer to ``text`` as given.

    >>> p = parse_completion('English<|language_end|>\\n<|query_analysis_start|>Easy.<|query_analysis_end|>'
    ...     '<|query_report_start|>Trivial<|query_report_end|>\\n'
    ...     '<|answer_start|>Helsby<ref name="<|source_id|>2">in Helsby</ref>.<|answer_end|><|end_of_text|>')
    >>> p.language, p.query_report, p.answer, p.errors
    ('English', 'Trivial', 'Helsby<ref name="<|source_id|>2">in Helsby</ref>.', [])
    >>> p.citations[0].source_id, p.citations[0].quote, p.citations[0].claim
    (2, 'in Helsby', 'Helsby')
    """
    raw = text if isinstance(text, str) else ("" if text is None else str(text))
    parsed = ParsedCompletion(text=raw)
    body, offset = strip_prompt(raw)
    body, parsed.ended = _strip_eos(body)
    language_end = body.find("<|language_end|>")
    _parse_language(parsed, body, language_end)
    _parse_sections(parsed, body, offset, language_end)
    first = _first_sections(parsed.sections)
    query_label = _label(first.get("query_report"), QUERY_REPORT_LABELS)
    _check_order(parsed, first, query_label)
    _parse_labels(parsed, first, query_label)
    answer = first.get("answer")
    if answer is not None:
        parsed.citations = parse_citations(answer.content, answer.start, parsed.errors)
    _check_refs_outside_answer(parsed)
    return parsed


def _parse_language(parsed: ParsedCompletion, body: str, end: int) -> None:
    if end < 0:
        parsed.errors.append(ParseError(_Kind.MISSING_LANGUAGE, "missing <|language_end|>: no language line"))
        return
    language = body[:end].strip()
    if not language:
        parsed.errors.append(ParseError(_Kind.BAD_LANGUAGE, "empty language line"))
    elif len(language) > 40 or ("<|" in language and _TOKEN.search(language)):
        parsed.errors.append(ParseError(_Kind.BAD_LANGUAGE, "language line is not a language name"))
    else:
        parsed.language = language


def _parse_sections(parsed: ParsedCompletion, body: str, offset: int, language_end: int) -> None:
    """Pair start/end tokens into sections; record every structural fault."""
    errors = parsed.errors
    cursor = 0 if language_end < 0 else language_end + len("<|language_end|>")
    open_name: str | None = None
    open_at = 0
    seen: set[str] = set()
    for match in _STRUCTURE_TOKEN.finditer(body, cursor):
        role = _SECTION_TOKENS.get(match.group(1))
        if role is None:
            errors.append(ParseError(_Kind.UNEXPECTED_TOKEN, f"unexpected token {match.group(0)} in the output"))
            continue
        name, opens = role
        start, end = match.span()
        if opens:
            if open_name is not None:
                errors.append(ParseError(_Kind.UNMATCHED_TOKEN,
                                          f"<|{name}_start|> opens before <|{open_name}_end|> closes"))
                _close(parsed, open_name, body, open_at, start, offset, closed=False)
            elif start > cursor and not body[cursor:start].isspace():
                errors.append(ParseError(_Kind.STRAY_TEXT, f"text outside any section before {name}: "
                                                               f"{body[cursor:start].strip()[:40]!r}"))
            if name in seen:
                errors.append(ParseError(_Kind.DUPLICATE_SECTION, f"section {name} appears more than once"))
            seen.add(name)
            open_name, open_at, cursor = name, end, end
        elif open_name != name:
            errors.append(ParseError(_Kind.UNMATCHED_TOKEN, f"<|{name}_end|> without a matching start"))
        else:
            _close(parsed, name, body, open_at, start, offset, closed=True)
            open_name, cursor = None, end
    if open_name is not None:
        errors.append(_section_fault("unclosed", open_name, _Kind.UNMATCHED_TOKEN,
                                     f"section {open_name} is not closed (truncated output?)"))
        _close(parsed, open_name, body, open_at, len(body), offset, closed=False)
    elif cursor < len(body) and not body[cursor:].isspace():
        kind, where = ((_Kind.TEXT_AFTER_ANSWER, "after the answer") if "answer" in seen
                       else (_Kind.STRAY_TEXT, "outside any section"))
        errors.append(ParseError(kind, f"text {where}: {body[cursor:cursor + 40].strip()!r}"))


def _close(parsed: ParsedCompletion, name: str, body: str, start: int, end: int,
           offset: int, closed: bool) -> None:
    content = body[start:end]
    parsed.sections.append(Section(name, content, start + offset, end + offset, closed))
    if closed and (not content or content.isspace()):
        parsed.errors.append(_section_fault("empty", name, _Kind.EMPTY_SECTION, f"section {name} is empty"))


def _first_sections(sections: list[Section]) -> dict[str, Section]:
    """The first section of each name (what :meth:`ParsedCompletion.section` returns)."""
    first: dict[str, Section] = {}
    for section in sections:
        first.setdefault(section.name, section)
    return first


def _check_order(parsed: ParsedCompletion, first: dict[str, Section],
                 query_label: str | None) -> None:
    ranks = [_SECTION_RANK[s.name] for s in parsed.sections]
    if ranks != sorted(ranks):
        parsed.errors.append(ParseError(_Kind.OUT_OF_ORDER, "sections out of order: "
                                         + ", ".join(s.name for s in parsed.sections)))
    if len(first) == len(SECTIONS):
        return
    short_path = query_label in SHORT_PATH_LABELS
    for name in SECTIONS:
        if name not in first and not (short_path and name in TRIVIAL_SKIPPED):
            parsed.errors.append(_section_fault("missing", name, _Kind.MISSING_SECTION, f"missing section {name}"))


def _label(section: Section | None, labels: dict[str, str]) -> str | None:
    if section is None:
        return None
    return labels.get(section.content.strip().strip(".").lower())


def _parse_labels(parsed: ParsedCompletion, first: dict[str, Section],
                  query_label: str | None) -> None:
    for name, labels in (("query_report", QUERY_REPORT_LABELS),
                         ("source_report", SOURCE_REPORT_LABELS)):
        section = first.get(name)
        if section is None:
            continue
        label = query_label if name == "query_report" else _label(section, labels)
        if label is None and section.content.strip():
            parsed.errors.append(ParseError(_Kind.INVALID_LABEL,
                                                 f"invalid {name} label {section.content.strip()[:40]!r}"))
        setattr(parsed, name, label)


def _check_refs_outside_answer(parsed: ParsedCompletion) -> None:
    for section in parsed.sections:
        if section.name != "answer" and "<" in section.content and _REF_OPEN.search(section.content):
            parsed.errors.append(ParseError(_Kind.REF_OUTSIDE_ANSWER, f"<ref> outside the answer, in {section.name}"))


def _ref_tags(text: str) -> list[tuple[re.Match[str], int, int | None]]:
    """Every ``<ref ...>`` tag with where its quote ends and its close tag ends (``None``: unclosed).

    An unclosed ref's quote runs to the next ref (or the end). Linear time.
    """
    opens = list(_REF_OPEN.finditer(text))
    tags = []
    for index, tag in enumerate(opens):
        next_open = opens[index + 1].start() if index + 1 < len(opens) else len(text)
        close = _REF_CLOSE.search(text, tag.end(), next_open)
        tags.append((tag, close.start() if close else next_open, close.end() if close else None))
    return tags


def parse_citations(answer: str, offset: int = 0, errors: list[ParseError] | None = None) -> list[Citation]:
    """Find every ``<ref>`` in an answer text; record malformed ones in ``errors``.

    Runs in linear time. ``offset`` is added to every span.

    >>> [(c.source_id, c.quote) for c in parse_citations('A<ref name="1">x\\ny</ref>B<ref name="z">w')]
    [(1, 'x\\ny'), (None, 'w')]
    """
    errors = [] if errors is None else errors
    citations: list[Citation] = []
    if "<" not in answer:
        return citations
    claim_start = 0
    claim = ""
    for tag, quote_end, close_end in _ref_tags(answer):
        tag_start, quote_start = tag.span()
        raw_id, source_id = _ref_id(tag.group(0), errors)
        if close_end is None:
            errors.append(ParseError(_Kind.MALFORMED_REF, f"unclosed <ref> for source {raw_id!r}"))
        tag_end = quote_end if close_end is None else close_end
        claim = _claim(answer[claim_start:tag_start], claim)
        citations.append(Citation(
            source_id=source_id, raw_id=raw_id, quote=answer[quote_start:quote_end],
            span=(tag_start + offset, tag_end + offset),
            quote_span=(quote_start + offset, quote_end + offset),
            claim=claim, closed=close_end is not None,
        ))
        claim_start = tag_end
    return citations


def _ref_id(tag: str, errors: list[ParseError]) -> tuple[str, int | None]:
    raw_id = tag[len(_CANONICAL_REF_HEAD):-2] if tag.startswith(_CANONICAL_REF_HEAD) else ""
    if not (raw_id.isdigit() and tag.endswith('">')):  # not the canonical tag: read the name
        match = _REF_NAME.search(tag)
        raw_id = match.group(1) if match else ""
    if not raw_id.isdigit() or not raw_id.isascii():
        errors.append(ParseError(_Kind.MALFORMED_REF, f"ref id {raw_id!r} is not a number"))
        return raw_id, None
    if len(raw_id.lstrip("0")) > _MAX_SOURCE_ID_DIGITS:
        errors.append(ParseError(_Kind.MALFORMED_REF, f"ref id {raw_id[:20]!r} is out of range"))
        return raw_id, None
    return raw_id, int(raw_id)


def _claim(window: str, previous_claim: str) -> str:
    """The claim of a ref: the text before it back to the previous sentence end.

    ``window`` runs from the previous ref (or the answer start), so it holds no ref. Back-to-back
    refs share the claim of the ref just before (linear time: no re-scan).
    """
    window = window.rstrip()
    if not window:
        return previous_claim
    last_end = _LAST_SENTENCE_END.match(window)
    if last_end:
        window = window[last_end.end():]
    return window.strip()


def strip_refs(text: str, keep_quotes: bool = False) -> str:
    """Remove ``<ref>`` tags from text, dropping the quotes unless ``keep_quotes``.

    Unclosed refs lose everything up to the next ref (their quote is not the writer's prose).

    >>> strip_refs('Paris<ref name="1">capital of France</ref> is big.')
    'Paris is big.'
    >>> strip_refs('Paris<ref name="1">capital</ref>.', keep_quotes=True)
    'Paris capital.'
    """
    if "<" not in text:
        return text
    pieces: list[str] = []
    cursor = 0
    for tag, quote_end, close_end in _ref_tags(text):
        pieces.append(text[cursor:tag.start()])
        if keep_quotes:
            pieces.append(" " + text[tag.end():quote_end])
        cursor = quote_end if close_end is None else close_end
    pieces.append(text[cursor:])
    return "".join(pieces)


def clean_answer(parsed: ParsedCompletion | str) -> str:
    """Render an answer exactly as the upstream library's ``processed["clean_answer"]``.

    The answer section, stripped; each closed ref replaced in place by ``[n]`` (a running
    count; nothing added or removed around it, so a paragraph break before a ref stays);
    then, when there was a ref, ``\\n\\n**Citations**\\n`` and one line per ref,
    ``[n] "quote" [Source id]``, the quote as written, each line ending in a newline. Refs that
    upstream's pattern misses but the parser reads (a quote over several lines, spaces inside
    the tag) are numbered too; an unclosed ref stays as written, as upstream leaves it. No
    answer section gives ``""``.

    >>> print(clean_answer('English<|language_end|><|query_report_start|>Trivial<|query_report_end|>'
    ...     '<|answer_start|>Paris is "the capital"<ref name="<|source_id|>1">the capital of France</ref>.'
    ...     '<|answer_end|>'), end="")
    Paris is "the capital"[1].
    <BLANKLINE>
    **Citations**
    [1] "the capital of France" [Source 1]
    """
    if isinstance(parsed, str):
        parsed = parse_completion(parsed)
    answer = parsed.section("answer")
    if answer is None:
        return ""
    text = parsed.text
    pieces: list[str] = []
    lines: list[str] = []
    cursor = answer.start
    for citation in (c for c in parsed.citations if c.closed):
        number = len(lines) + 1
        pieces.append(f"{text[cursor:citation.span[0]]}[{number}]")
        lines.append(f'[{number}] "{text[citation.quote_span[0]:citation.quote_span[1]]}" '
                     f"[Source {citation.raw_id}]\n")
        cursor = citation.span[1]
    pieces.append(text[cursor:answer.end])
    body = "".join(pieces).strip()
    return body + "\n\n**Citations**\n" + "".join(lines) if lines else body


def render_completion(*, language: str, query_analysis: str, query_report: str, answer: str,
                      source_analysis: str | None = None, source_report: str | None = None,
                      draft: str | None = None, eos: bool = True) -> str:
    """Write a well-formed completion (the text generated after the prompt).

    Sections given as ``None`` are left out (the Trivial path leaves out source analysis,
    source report and draft).

    >>> render_completion(language="English", query_analysis="Simple.", query_report="Trivial",
    ...                   answer="Yes.", eos=False)
    'English<|language_end|>\\n<|query_analysis_start|>Simple.<|query_analysis_end|>\\n<|query_report_start|>Trivial<|query_report_end|>\\n<|answer_start|>Yes.<|answer_end|>'
    """
    values = {"query_analysis": query_analysis, "query_report": query_report,
              "source_analysis": source_analysis, "source_report": source_report,
              "draft": draft, "answer": answer}
    parts = [f"{language}<|language_end|>"]
    parts += [f"<|{name}_start|>{values[name]}<|{name}_end|>"
              for name in SECTIONS if values[name] is not None]
    return "\n".join(parts) + (EOS_TOKEN if eos else "")


def format_ref(source_id: int | str, quote: str) -> str:
    """Write one citation tag as the Pleias models do.

    >>> format_ref(3, "a literal quote")
    '<ref name="<|source_id|>3">a literal quote</ref>'
    """
    return f'<ref name="<|source_id|>{source_id}">{quote}</ref>'


def special_tokens_in(text: str) -> Iterable[str]:
    """Yield the Pleias special-token strings found in ``text``, in order.

    >>> list(special_tokens_in("a<|draft_start|>b<|unknown|>"))
    ['<|draft_start|>']
    """
    known = set(SPECIAL_TOKENS)
    for match in _TOKEN.finditer(text):
        if match.group(0) in known:
            yield match.group(0)
