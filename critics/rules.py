"""The rule critic: deterministic checks built on the rewards' diagnostics, with repairs.

Detected (kind from :data:`pleias_rl.critics.base.FAILURE_KINDS`): misquotes, wrong sources, changed
numbers, quotes from the query, badly shaped quotes (too short, source dump, duplicate, out of
order), invalid refs, answers without citations, format faults, language mismatches, wrong and
missed refusals, and gold answer mismatches (where the row has gold).

Repaired where a rule can do it exactly:

- a misquote or changed number: the quote becomes the closest true span of the cited source
  (widened to whole words; a quote too far from anything in the source is dropped);
- a wrong source (or an invalid id) whose quote another source holds: the ref is re-pointed;
- a quote from the query, a duplicate, a fabricated quote: the ref is dropped;
- a too-short, unspecific or tiny quote, or a bad elision (stitched sentences, a short gap, a
  left-out negation or number): the whole sentence of its longest fragment; a quote cut inside a
  word, or a fuzzy one changing a negation or a name: the true words of the source; a source dump: cut to the sentence of the source
  closest to the claim; out-of-order fragments: put back in source order;
- format faults and a wrong language line: the completion is rebuilt with
  :func:`pleias_rl.data.format.render_completion` from its own sections (a full path missing its middle
  sections falls back to the Trivial path);
- a wrong or missed refusal, a wrong answer, an answer without citations, a truncated or looping
  answer: replaced by the oracle completion (:func:`pleias_rl.data.targets.oracle_completion`) when the
  row has gold evidence; otherwise no revision (the loop asks the policy to regenerate).

Every revision is re-verified by the loop; the repairs are built to score citation = format = 1.0.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from pleias_rl.data.format import (QUERY_REPORT_LABELS, SOURCE_REPORT_LABELS, TRIVIAL_SKIPPED, Citation,
                                   ParsedCompletion, format_ref, neutralise, parse_completion,
                                   render_completion)
from pleias_rl.data.language import language_name
from pleias_rl.data.schema import source_texts
from pleias_rl.data.targets import SENTENCE_BREAK, oracle_completion, sentences, supporting_evidence
from pleias_rl.critics.base import Critic, Issue, Verdict
from pleias_rl.rewards.align import Alignment
from pleias_rl.rewards.base import ScoredCompletion
from pleias_rl.rewards.citation import CitationReward, CitationSettings, JudgedRef
from pleias_rl.rewards.evidence import cuts_number, elision_flaw
from pleias_rl.rewards.format import FormatReward
from pleias_rl.rewards.gold import AnswerReward, RefusalReward, is_refusal
from pleias_rl.rewards.language import LanguageReward, expected_language
from pleias_rl.rewards.text import fold

REF_VERDICT_KINDS: dict[str, str] = {
    "fuzzy": "misquote", "paraphrase": "misquote", "fabricated": "misquote",
    "wrong_source": "wrong_source", "number_changed": "number_changed",
    "query_quote": "query_quote", "too_short": "quote_shape", "source_dump": "quote_shape",
    "duplicate": "quote_shape", "out_of_order": "quote_shape", "invalid_id": "invalid_ref",
    "unclosed": "invalid_ref", "stitched": "misquote", "short_elision": "misquote",
    "meaning_elided": "misquote", "cut_word": "misquote", "negation_changed": "misquote",
    "name_changed": "misquote", "unspecific": "quote_shape", "tiny_refs": "quote_shape",
}
"""Citation-reward ref verdict -> failure kind (``exact`` and ``elided`` are fine)."""

WHOLE_SENTENCE_VERDICTS = frozenset({"too_short", "stitched", "short_elision", "meaning_elided",
                                     "unspecific", "tiny_refs"})
"""Verdicts repaired by quoting the whole sentence of the (longest) aligned fragment."""

MIN_REALIGN_SCORE = 0.6
"""A misquote is replaced by its aligned source span only when the alignment scores this much."""

MAX_QUOTE_WORDS = CitationSettings().max_quote_words
"""A repaired quote longer than this is cut to its sentence closest to the claim."""

ANSWER_THRESHOLD = 0.5
"""An ``answer`` reward below this (on a row with gold) is a ``wrong_answer``."""

ORACLE_KINDS = frozenset({"wrong_refusal", "missed_refusal", "wrong_answer", "missing_citation"})
"""Failures only a gold-based rewrite repairs."""

_WORD = re.compile(r"\w+")
_UNREPAIRABLE_FORMAT = frozenset({"no_answer", "truncated", "empty_answer", "repetition"})


@dataclass(frozen=True)
class RefFix:
    """What to do with one citation: keep, replace (new id and/or quote) or drop.

    >>> RefFix("drop").render(None)
    ''
    """

    action: str  # "keep", "replace" or "drop"
    source_id: int | None = None
    quote: str | None = None

    def render(self, citation: Citation | None) -> str:
        """The ref text after the fix (``''`` when dropped)."""
        if self.action == "drop" or citation is None and self.action == "keep":
            return ""
        source_id = self.source_id if self.source_id is not None else citation.source_id
        quote = self.quote if self.quote is not None else citation.quote
        return format_ref(source_id, quote)


class RuleCritic(Critic):
    """Deterministic critic over the citation, format, language, refusal and answer rewards.

    >>> row = {"query": "Where does the A5117 end?", "answer": "Helsby",
    ...        "sources": ["The A5117 is a road. It runs between Shotwick and Helsby in Cheshire."]}
    >>> bad = render_completion(language="English", query_analysis="Easy.", query_report="Trivial",
    ...     answer='It ends in Helsby<ref name="<|source_id|>1">It runs from Shotwick to Helsby</ref>.')
    >>> verdict = RuleCritic().critique(row, bad)
    >>> verdict.passed, verdict.kinds
    (False, ['misquote'])
    >>> RuleCritic().critique(row, verdict.revision).passed
    True
    """

    name = "rules"

    def __init__(self, answer_threshold: float = ANSWER_THRESHOLD, repair_with_gold: bool = True) -> None:
        self.answer_threshold = answer_threshold
        self.repair_with_gold = repair_with_gold
        self.citation = CitationReward()
        self.format = FormatReward()
        self.language = LanguageReward()
        self.refusal = RefusalReward()
        self.answer = AnswerReward()

    def critique(self, example: Mapping[str, Any], completion: str) -> Verdict:
        """Check ``completion`` against ``example``; propose a repaired revision when possible.

        Every reward reads one :class:`pleias_rl.rewards.base.ScoredCompletion` (one parse, one
        row context), and the ref repairs start from the citation reward's typed judgement."""
        return self.critique_completion(ScoredCompletion(completion, example))

    def critique_scored(self, completions: Sequence[ScoredCompletion]) -> list[Verdict]:
        """:meth:`critique_completion` of each, never raising (the loop passes the completions
        it scores the rewards on, so parses and judgements are shared)."""
        return [self.guarded(lambda scored=scored: self.critique_completion(scored)) for scored in completions]

    def critique_completion(self, scored: ScoredCompletion) -> Verdict:
        """:meth:`critique` of a scored completion (its row is the example)."""
        parsed, example = scored.parsed, scored.row
        sources = source_texts(example.get("sources"))
        format_issues, rebuildable = self._format_issues(scored)
        ref_issues, fixes = self._citation_issues(scored, sources)
        language_issues, language_line = self._language_issues(scored)
        answer_issues = self._refusal_issues(scored) + self._answer_issues(scored)
        issues = format_issues + ref_issues + language_issues + answer_issues
        if not any(issue.severity == "error" for issue in issues):
            return Verdict(critic=self.name, passed=True, issues=issues)
        revision = self._revise(parsed, example, issues, fixes, rebuildable, language_line)
        return Verdict.failing(self.name, issues, revision=revision)

    # ----- detection -------------------------------------------------------------------------

    def _format_issues(self, scored: ScoredCompletion) -> tuple[list[Issue], bool]:
        """Format faults as issues, and whether a rebuild from the sections can fix them all."""
        failed = "internal_error" in self.format.explain_completion(scored)[1]
        violations = [] if failed else self.format.violations(scored)
        issues = [Issue("format", f"{kind}: {detail}", suggested_fix="rebuild the sections in the Pleias order")
                  for kind, detail in violations]
        rebuildable = not any(kind in _UNREPAIRABLE_FORMAT for kind, _ in violations)
        return issues, rebuildable

    def _citation_issues(self, scored: ScoredCompletion,
                         sources: list[str]) -> tuple[list[Issue], dict[int, RefFix]]:
        """One issue per faulty ref (from the citation reward's typed judgement) and its fix."""
        parsed = scored.parsed
        failed = "internal_error" in self.citation.explain_completion(scored)[1]
        issues: list[Issue] = []
        fixes: dict[int, RefFix] = {}
        for ref in () if failed else self.citation.judgement(scored).refs:
            kind = REF_VERDICT_KINDS.get(ref.verdict)
            if kind is None:
                continue
            citation = ref.citation
            fix = repair_ref(ref, sources)
            fixes[ref.index] = fix
            issues.append(Issue(kind, f"ref {ref.index + 1} (source {citation.raw_id}): {ref.verdict}"
                                      f" quote {_short(citation.quote)}",
                                span=citation.span, suggested_fix=_describe(fix)))
        drop_duplicate_repairs(parsed.citations, fixes)
        if not parsed.citations and self._should_cite(parsed, scored.row):
            issues.append(Issue("missing_citation", "the answer cites no source",
                                suggested_fix="quote the supporting sentence of each claim"))
        return issues, fixes

    def _should_cite(self, parsed: ParsedCompletion, example: Mapping[str, Any]) -> bool:
        answer = parsed.section("answer")
        return (answer is not None and bool(answer.content.strip())
                and example.get("answerable") is not False and not is_refusal(parsed))

    def _language_issues(self, scored: ScoredCompletion) -> tuple[list[Issue], str | None]:
        """A wrong answer language (unrepairable by rules) or a wrong language line (repairable)."""
        parsed, example = scored.parsed, scored.row
        score, diagnostics = self.language.explain_completion(scored)
        expected = language_name(expected_language(example)[0])
        if score is None or score == 1.0:
            return [], None
        if score == 0.0 and diagnostics.get("answer_language") is not None:
            return [Issue("language_mismatch", diagnostics.get("reason", "answer in the wrong language"),
                          span=_section_span(parsed, "answer"),
                          suggested_fix=f"write the answer in {expected}")], None
        if score > 0.0:
            return [Issue("language_mismatch", f"language line {parsed.language!r} should be {expected!r}",
                          suggested_fix=f"write {expected} on the language line")], expected
        return [], None

    def _refusal_issues(self, scored: ScoredCompletion) -> list[Issue]:
        parsed = scored.parsed
        score, diagnostics = self.refusal.explain_completion(scored)
        if score != 0.0 or "refused" not in diagnostics:
            return []
        if diagnostics["refused"]:
            return [Issue("wrong_refusal", "refuses although the sources answer the question",
                          span=_section_span(parsed, "answer"), suggested_fix="answer from the sources")]
        return [Issue("missed_refusal", "answers although the question is unanswerable from the sources",
                      span=_section_span(parsed, "answer"),
                      suggested_fix="say that the sources do not contain the answer")]

    def _answer_issues(self, scored: ScoredCompletion) -> list[Issue]:
        parsed = scored.parsed
        score, diagnostics = self.answer.explain_completion(scored)
        if score is None or score >= self.answer_threshold or parsed.is_refusal:
            return []
        gold = diagnostics.get("gold")
        return [Issue("wrong_answer", f"answer does not match the gold answer {gold!r} (score {score:.2f})",
                      span=_section_span(parsed, "answer"),
                      suggested_fix=f"the answer is {gold}" if gold else None)]

    # ----- repair ----------------------------------------------------------------------------

    def _revise(self, parsed: ParsedCompletion, example: Mapping[str, Any], issues: list[Issue],
                fixes: dict[int, RefFix], rebuildable: bool, language_line: str | None) -> str | None:
        """The repaired completion, or ``None`` when no rule can repair every error."""
        kinds = {issue.kind for issue in issues if issue.severity == "error"}
        needs_oracle = bool(kinds & ORACLE_KINDS) or not rebuildable or (
            "language_mismatch" in kinds and language_line is None)
        if needs_oracle:
            return self._oracle(example)
        answer = repaired_answer(parsed, fixes)
        if fixes and all(fix.action == "drop" for fix in fixes.values()) and len(fixes) == len(parsed.citations):
            return self._oracle(example)  # nothing true left to cite
        if "format" in kinds or language_line is not None:
            return rebuild_completion(parsed, example, answer, language_line)
        return with_answer(parsed, answer)

    def _oracle(self, example: Mapping[str, Any]) -> str | None:
        """The gold-evidence completion when allowed and the row has evidence (or is unanswerable)."""
        if not self.repair_with_gold:
            return None
        if example.get("answerable") is False or supporting_evidence(example):
            return oracle_completion(example)
        return None


def repair_ref(ref: JudgedRef, sources: list[str]) -> RefFix:
    """The fix of one faulty ref, from the citation reward's judgement of it (the alignment the
    reward computed is the one repaired from).

    >>> sources = ["It runs between Shotwick and Helsby.", "Helsby is a village."]
    >>> text = 'E<|language_end|><|answer_start|>X<ref name="2">Shotwick and Helsby</ref><|answer_end|>'
    >>> ref = CitationReward().judgement(ScoredCompletion(text, {"sources": sources})).refs[0]
    >>> ref.verdict, repair_ref(ref, sources)
    ('wrong_source', RefFix(action='replace', source_id=1, quote=None))
    """
    citation, verdict = ref.citation, ref.verdict
    found_in = [i for i in ref.examined.found_in if 1 <= i <= len(sources)]
    if verdict in ("wrong_source", "invalid_id") and found_in:
        return RefFix("replace", source_id=found_in[0])
    if verdict in ("query_quote", "duplicate", "invalid_id") or citation.source_id is None:
        return RefFix("drop")
    if not 1 <= citation.source_id <= len(sources):
        return RefFix("drop")
    source = sources[citation.source_id - 1]
    if verdict == "source_dump":
        return _replacement(sentence_closest_to(citation.claim, source), citation.claim)
    alignment = ref.alignment
    if verdict == "out_of_order" and alignment is not None:
        return _replacement(fragments_in_source_order(alignment, source), citation.claim)
    if alignment is None or alignment.span is None or alignment.score < MIN_REALIGN_SCORE:
        return RefFix("drop")
    span = alignment.span
    whole_sentence = verdict in WHOLE_SENTENCE_VERDICTS
    if whole_sentence and alignment.elided:  # keep the sentence of the longest fragment
        located = [f for f in alignment.fragments if f.span is not None]
        span = max(located, key=lambda f: len(f.text) * f.similarity).span if located else span
    start, end = word_bounds(source, span)
    if whole_sentence or len(_WORD.findall(source[start:end])) < 3 or elision_flaw(source, [(start, end)]):
        start, end = sentence_bounds(source, (start, end))
    return _replacement(source[start:end], citation.claim)


def _replacement(quote: str | None, claim: str = "") -> RefFix:
    quote = quote.strip() if quote else ""
    if len(quote.split()) > MAX_QUOTE_WORDS:
        quote = sentence_closest_to(claim, quote)
    return RefFix("replace", quote=neutralise(quote)) if quote else RefFix("drop")


def drop_duplicate_repairs(citations: list[Citation], fixes: dict[int, RefFix]) -> None:
    """Drop a ref whose (repaired) quote repeats an earlier kept quote; updates ``fixes``.

    >>> cs = parse_completion('E<|language_end|><|answer_start|>A<ref name="1">a b c</ref><ref name="1">a b c d</ref><|answer_end|>').citations
    >>> fixes = {1: RefFix("replace", quote="a b c")}; drop_duplicate_repairs(cs, fixes); fixes[1].action
    'drop'
    """
    seen: set[tuple[int | None, str]] = set()
    for index, citation in enumerate(citations):
        fix = fixes.get(index, RefFix("keep"))
        if fix.action == "drop":
            continue
        key = (fix.source_id or citation.source_id, fold(fix.quote or citation.quote))
        if key in seen:
            fixes[index] = RefFix("drop")
        seen.add(key)


def word_bounds(text: str, span: tuple[int, int]) -> tuple[int, int]:
    """Widen a span to whole words (never cutting a word or a number, separators included).

    >>> text = "It runs between Shotwick and Helsby, 1,500 km."
    >>> text[slice(*word_bounds(text, (10, 19)))], text[slice(*word_bounds(text, (39, 45)))]
    ('between Shotwick', '1,500 km')
    """
    start, end = span
    while start > 0 and (text[start - 1].isalnum() or cuts_number(text, start, start)):
        start -= 1
    while end < len(text) and (text[end].isalnum() or cuts_number(text, end, end)):
        end += 1
    return start, end


def sentence_bounds(text: str, span: tuple[int, int]) -> tuple[int, int]:
    """Widen a span to the sentence(s) containing it (sentence ends as :data:`pleias_rl.data.targets.SENTENCE_BREAK`).

    >>> text = "The A5117 is a road. It runs between Shotwick and J. Smith's Helsby. It is short."
    >>> text[slice(*sentence_bounds(text, (30, 40)))]
    "It runs between Shotwick and J. Smith's Helsby."
    """
    breaks = [0] + [match.end() for match in SENTENCE_BREAK.finditer(text)] + [len(text)]
    start = max(b for b in breaks if b <= span[0])
    end = min((b for b in breaks if b >= span[1]), default=len(text))
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def sentence_closest_to(claim: str, source: str) -> str:
    """The sentence of ``source`` sharing the most words with ``claim`` (first one on ties).

    >>> sentence_closest_to("It ends in Helsby", "The A5117 is a road. It runs to Helsby. It is short.")
    'It runs to Helsby.'
    """
    claim_words = {word.lower() for word in _WORD.findall(claim)}
    return max(sentences(source), default="",
               key=lambda s: len(claim_words & {w.lower() for w in _WORD.findall(s)}))


def fragments_in_source_order(alignment: Alignment, source: str) -> str:
    """Re-join the aligned fragments of an elided quote in the order they occur in the source;
    fragments whose gap would not be an honest elision (:func:`pleias_rl.rewards.evidence.elision_flaw`)
    are joined by the source text between them.

    >>> from pleias_rl.rewards.align import align_quote
    >>> source = "It runs between Shotwick and Helsby in the west of the county of Cheshire."
    >>> fragments_in_source_order(align_quote("the county of Cheshire (…) It runs", source), source)
    'It runs (…) the county of Cheshire'
    >>> fragments_in_source_order(align_quote("Helsby (…) It runs", source), source)
    'It runs between Shotwick and Helsby'
    """
    located = sorted(f.span for f in alignment.fragments if f.exact and f.span is not None)
    merged: list[tuple[int, int]] = []
    for start, end in located:
        if merged and elision_flaw(source, [merged[-1], (start, end)]) is not None:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return " (…) ".join(source[start:end] for start, end in merged)


def repaired_answer(parsed: ParsedCompletion, fixes: Mapping[int, RefFix]) -> str:
    """The answer text with each ref re-rendered by its fix (kept refs are re-rendered too,
    which closes unclosed tags).

    >>> p = parse_completion('E<|language_end|><|answer_start|>A<ref name="1">x</ref>, B<ref name="2">y</ref>.<|answer_end|>')
    >>> repaired_answer(p, {1: RefFix("drop")})
    'A<ref name="<|source_id|>1">x</ref>, B.'
    """
    section = parsed.section("answer")
    if section is None:
        return ""
    pieces: list[str] = []
    cursor = section.start
    for index, citation in enumerate(parsed.citations):
        pieces.append(parsed.text[cursor:citation.span[0]])
        pieces.append(fixes.get(index, RefFix("keep")).render(citation))
        cursor = citation.span[1]
    pieces.append(parsed.text[cursor:section.end])
    return "".join(pieces).strip()


def with_answer(parsed: ParsedCompletion, answer: str) -> str:
    """The completion with its answer section's content replaced (rebuilt when it has none).

    >>> p = parse_completion("English<|language_end|><|answer_start|>Old.<|answer_end|><|end_of_text|>")
    >>> with_answer(p, "New.")
    'English<|language_end|><|answer_start|>New.<|answer_end|><|end_of_text|>'
    """
    section = parsed.section("answer")
    if section is None:
        return rebuild_completion(parsed, {}, answer)
    return parsed.text[:section.start] + answer + parsed.text[section.end:]


def rebuild_completion(parsed: ParsedCompletion, example: Mapping[str, Any], answer: str,
                       language_line: str | None = None) -> str:
    """Re-render a completion from its own sections, canonical labels and the given answer.

    A missing query analysis is written from the query; a full path that lacks source analysis,
    source report or draft falls back to the Trivial path.

    >>> p = parse_completion("English<|language_end|><|answer_start|>Yes.<|answer_end|>trailing")
    >>> print(rebuild_completion(p, {"query": "Is it?"}, "Yes."))
    English<|language_end|>
    <|query_analysis_start|>The query asks: "Is it?"<|query_analysis_end|>
    <|query_report_start|>Trivial<|query_report_end|>
    <|answer_start|>Yes.<|answer_end|><|end_of_text|>
    """
    def content(name: str) -> str | None:
        section = parsed.section(name)
        return section.content.strip() if section is not None and section.content.strip() else None

    language = language_line or parsed.language or language_name(expected_language(example)[0]) or "English"
    analysis = content("query_analysis") or f'The query asks: "{neutralise(str(example.get("query", "")).strip())}"'
    full = {name: content(name) for name in TRIVIAL_SKIPPED}
    source_report = SOURCE_REPORT_LABELS.get((full["source_report"] or "").strip(".").lower())
    query_report = QUERY_REPORT_LABELS.get((content("query_report") or "").strip(".").lower())
    if all(full.values()) and source_report and query_report != "Trivial":
        return render_completion(language=language, query_analysis=analysis,
                                 query_report=query_report or "Answerable",
                                 source_analysis=full["source_analysis"], source_report=source_report,
                                 draft=full["draft"], answer=answer)
    trivial_report = query_report if query_report in ("Trivial", "Unclear", "Refused") else "Trivial"
    return render_completion(language=language, query_analysis=analysis, query_report=trivial_report,
                             answer=answer)


def _section_span(parsed: ParsedCompletion, name: str) -> tuple[int, int] | None:
    section = parsed.section(name)
    return None if section is None else (section.start, section.end)


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[:limit - 1] + "…")


def _describe(fix: RefFix) -> str:
    if fix.action == "drop":
        return "remove this ref"
    parts = []
    if fix.source_id is not None:
        parts.append(f"cite source {fix.source_id}")
    if fix.quote is not None:
        parts.append(f"quote {_short(fix.quote)}")
    return " and ".join(parts)
