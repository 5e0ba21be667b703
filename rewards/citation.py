"""``citation``: are the quotes in the answer's refs really in the sources they cite?

Each ``<ref>`` gets a verdict and a score in [0, 1] (:data:`VERDICTS`):

- ``exact`` / ``elided`` (1.0): the quote, split at elision markers, occurs in the cited source
  after normalisation (:mod:`pleias_rl.rewards.text`), fragments in order.
- ``fuzzy`` (0.7..1.0): no exact match, but a close one (similarity >= ``fuzzy_threshold``) with
  every number intact; ``paraphrase`` (0..0.5): a looser match (>= ``paraphrase_threshold``);
  ``fabricated`` (0): nothing close.
- Penalised (0 unless said): ``invalid_id`` (no such source), ``unclosed`` ref, ``too_short``
  (under ``min_quote_words`` words, or an elided fragment under ``min_fragment_words``: 0.1),
  ``duplicate`` (same quote again: 0.25), ``source_dump`` (several sentences covering most of a
  source, or over ``max_quote_words`` words: 0.25), ``out_of_order`` fragments,
  ``number_changed`` (a number of the quote is not in the aligned source window),
  ``query_quote`` (copied from the query, not the source), ``wrong_source`` (the quote is in
  another source, listed in ``found_in``).
- Not evidence (checks of :mod:`pleias_rl.rewards.evidence`, 0 unless said): ``stitched`` (an
  elision joins pieces of different sentences), ``short_elision`` (an elision inside a sentence
  leaves out under four words), ``meaning_elided`` (it leaves out a negation, a number or a
  narrowing word, or the quote starts right after one), ``cut_word`` (a fragment starts or ends
  inside a word), ``negation_changed`` / ``name_changed`` (a fuzzy quote drops or adds a
  negation, changes or reorders a name), ``unspecific`` (too few content words, or a short quote
  that other sources hold too: 0.1), ``tiny_refs`` (an answer of more than two refs under five
  words: each scores 0.25). A fuzzy quote that drops or adds a content word is a ``paraphrase``.

The completion scores the MINIMUM over its refs: citing more can never raise the score, and
one bad quote (every penalised verdict scores <= 0.5) caps the completion however many honest
quotes surround it. No refs scores 0.0, except on a row marked ``answerable: false``, where a
refusal without refs is right and the reward does not apply (``None``).

Diagnostics: ``refs`` (one dict per ref: index, source_id, quote, verdict, score, aligned_span
in the ORIGINAL cited source or ``None`` when nothing aligned above ``paraphrase_threshold``,
aligned_text, found_in, rag_eval with Pleias' id_valid/long_enough/not_duplicated/sw_score),
``metrics`` (floats the trainer logs as ``citation/<name>``) and ``rag_eval`` (the four measures
averaged, and their mean ``rag_rank``).

Each distinct quote is examined once per row context (:meth:`CitationReward.examine`; the
context of a row's sources and query is shared by the completions of a scored batch), and the
refs of an answer judged together (:meth:`CitationReward.judge`) into a typed
:class:`CitationJudgement` of :class:`JudgedRef` objects, which the critics read directly
(:meth:`CitationReward.judgement`); the diagnostics are their dicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple, Sequence

from rapidfuzz import fuzz
from rapidfuzz.distance import LCSseq

import pleias_rl.rewards.align as align
from pleias_rl.data.format import Citation, parse_completion
from pleias_rl.data.schema import source_texts
from pleias_rl.data.targets import SENTENCE_BREAK
from pleias_rl.rewards.align import (Alignment, align_fragments, fast_smith_waterman, smith_waterman,
                           split_fragments, word_end, word_start)
from pleias_rl.rewards.base import Reward, Score, ScoredCompletion
from pleias_rl.rewards.evidence import (GENERIC_MAX_WORDS, MAX_TINY_REFS, MIN_CONTENT_WORDS, elision_flaw,
                                        meaning_changed, query_copied, said_elsewhere, tiny_refs,
                                        unspecific, words_changed)
from pleias_rl.rewards.text import FoldedSources, fold, fold_sources, normalise

VERDICTS: tuple[str, ...] = (
    "exact", "elided", "fuzzy", "paraphrase", "fabricated", "wrong_source", "query_quote",
    "number_changed", "too_short", "source_dump", "duplicate", "invalid_id", "unclosed",
    "out_of_order", "stitched", "short_elision", "meaning_elided", "cut_word", "negation_changed",
    "name_changed", "unspecific", "tiny_refs",
)
"""Every per-ref verdict, best first."""

HONEST_VERDICTS = frozenset({"exact", "elided", "fuzzy"})
"""Verdicts of quotes that are really in the cited source."""

MAX_DIAGNOSTIC_CHARS = 2000
"""Quotes and aligned texts longer than this are cut in the diagnostics."""


@dataclass(frozen=True)
class CitationSettings:
    """Thresholds of the citation reward (all overridable as constructor keywords).

    >>> CitationSettings().fuzzy_threshold
    0.9
    """

    min_quote_words: int = 3
    min_fragment_words: int = 3
    fuzzy_threshold: float = 0.9
    paraphrase_threshold: float = 0.6
    query_threshold: float = 0.85
    dump_min_sentences: int = 3
    dump_coverage: float = 0.6
    max_quote_words: int = 100
    too_short_score: float = 0.1
    duplicate_score: float = 0.25
    source_dump_score: float = 0.25
    fuzzy_floor: float = 0.7
    paraphrase_ceiling: float = 0.5
    unspecific_score: float = 0.1
    tiny_ref_score: float = 0.25
    exact_sw: bool = False
    """RAG-Eval ``sw_score`` of inexact quotes: pure-Python Smith-Waterman (slow, Pleias'
    exact figure) instead of :func:`pleias_rl.rewards.align.fast_smith_waterman` (a close lower bound)."""


class _Examined(NamedTuple):
    """What one quote citing one source id gets, whatever refs come before it in the answer."""

    key: str
    alignment: Alignment | None
    """The alignment with the cited source (``None`` for an invalid id or an empty quote)."""
    verdict: str | None
    """``None`` for an id outside the sources; otherwise the verdict of a closed ref whose
    quote was not cited before (duplicate, unclosed and invalid ids are decided per ref)."""
    score: float
    span: tuple[int, int] | None
    aligned_text: str
    found_in: tuple[int, ...]
    long_enough: bool
    sw_score: float


class _Context(NamedTuple):
    """What every ref of one completion is judged against, shared by a GRPO group."""

    sources: tuple[str, ...]
    folded: FoldedSources
    folded_query: str
    examined: dict[CitationSettings, dict[tuple[str, int | None], _Examined]]
    """Quotes already examined against these sources, per reward settings."""


MAX_EXAMINED_QUOTES = 256
"""Most quotes remembered per context and settings (a GRPO group quotes the same sentences)."""


def _context(sources: tuple[str, ...], query: str) -> _Context:
    """The judging context of a row's source texts and query.

    >>> _context(("It  runs.",), "Where?").folded.texts
    ('it runs.',)
    """
    return _Context(sources, fold_sources(sources), fold(query), {})


def _texts(sources: object) -> tuple[str, ...]:
    """``tuple(source_texts(sources))``, read directly when every source is a string or a dict
    whose ``"text"`` is a string (the shipped and TRL rows).

    >>> _texts(["a", {"text": "b"}]), _texts([{"text": None}, 3])
    (('a', 'b'), ('', ''))
    """
    if type(sources) is list:
        texts = tuple(source if type(source) is str else source.get("text") if type(source) is dict else None
                      for source in sources)
        if all(type(text) is str for text in texts):
            return texts
    return tuple(source_texts(sources))


def row_context(completion: ScoredCompletion) -> _Context:
    """:func:`_context` of a completion's row, built once per batch for every row holding the
    same source texts and query (the batch memo is keyed by that content).

    >>> from pleias_rl.rewards.base import ScoredBatch
    >>> batch = ScoredBatch(["a", "b"], [{"query": "Where?", "sources": [{"text": "It runs."}]},
    ...                                  {"query": "Where?", "sources": ["It runs."]}])
    >>> row_context(batch[0]) is row_context(batch[1]), row_context(batch[0]).folded.texts
    (True, ('it runs.',))
    """
    row = completion.row
    sources, query = _texts(row.get("sources")), row.get("query")
    query = query if isinstance(query, str) else ""
    return completion.memo.get(("citation_context", sources, query), lambda: _context(sources, query))


class JudgedRef(NamedTuple):
    """One ref of an answer as the citation reward judged it (:meth:`to_dict`: its diagnostics).

    ``examined`` is what the quote got against its cited source, alignment included: a repair
    starts from it instead of aligning again.
    """

    index: int
    citation: Citation
    verdict: str
    score: float
    examined: _Examined
    not_duplicated: bool

    @property
    def source_id(self) -> int | str:
        """The cited id, or the id as written when it is not a number."""
        source_id = self.citation.source_id
        return source_id if source_id is not None else self.citation.raw_id

    @property
    def alignment(self) -> Alignment | None:
        """The alignment of the quote with the cited source."""
        return self.examined.alignment

    def to_dict(self) -> dict[str, Any]:
        """The ref's diagnostics dict (the keys of the module docstring)."""
        examined = self.examined
        span = examined.span
        return {"index": self.index, "source_id": self.source_id,
                "quote": self.citation.quote.strip()[:MAX_DIAGNOSTIC_CHARS], "verdict": self.verdict,
                "score": self.score, "aligned_span": list(span) if span else None,
                "aligned_text": examined.aligned_text, "found_in": list(examined.found_in),
                "rag_eval": {"id_valid": examined.verdict is not None, "long_enough": examined.long_enough,
                             "not_duplicated": self.not_duplicated, "sw_score": examined.sw_score}}


class CitationJudgement(NamedTuple):
    """The citation score of one completion, its judged refs and their summaries."""

    score: Score
    refs: tuple[JudgedRef, ...]
    metrics: dict[str, float]
    rag_eval: dict[str, float]

    def diagnostics(self) -> dict[str, Any]:
        """The reward's diagnostics dict: ``refs`` (dicts), ``metrics`` and ``rag_eval``."""
        return {"refs": [ref.to_dict() for ref in self.refs], "metrics": self.metrics,
                "rag_eval": self.rag_eval}


class CitationReward(Reward):
    """Quote-to-source accuracy of the refs in the answer (see the module docstring).

    Keyword options are the fields of :class:`CitationSettings`.

    >>> row = {"query": "Where does the A5117 end?",
    ...        "sources": ["The A5117 is a road in Cheshire. It runs between Shotwick and Helsby."]}
    >>> good = ('English<|language_end|><|query_report_start|>Trivial<|query_report_end|>'
    ...         '<|answer_start|>Helsby<ref name="<|source_id|>1">It runs between Shotwick and '
    ...         'Helsby.</ref><|answer_end|>')
    >>> made_up = good.replace("It runs between Shotwick and Helsby.", "It was opened by a queen.")
    >>> citation_reward(completions=[good, made_up], **{k: [v, v] for k, v in row.items()})
    [1.0, 0.0]
    >>> score, diagnostics = citation_reward.explain(good, row)
    >>> diagnostics["refs"][0]["verdict"], diagnostics["refs"][0]["aligned_span"]
    ('exact', [33, 69])
    >>> citation_reward.judgement(ScoredCompletion(good, row)).refs[0].alignment.span
    (33, 69)
    """

    name = "citation"

    def __init__(self, tokenizer: Any = None, **options: Any) -> None:
        super().__init__(tokenizer, **options)
        self.settings = CitationSettings(**options)

    def score_completion(self, completion: ScoredCompletion) -> tuple[Score, dict[str, Any]]:
        """Judge every ref of the completion against its row's sources; the score is the worst ref."""
        judgement = self.judgement(completion)
        return judgement.score, judgement.diagnostics()

    def judgement(self, completion: ScoredCompletion) -> CitationJudgement:
        """The typed judgement of a scored completion, computed once per completion and settings."""
        key = ("citation", self.settings)
        found = completion.derived.get(key)
        if found is None:
            found = completion.derived[key] = self._judgement(completion)
        return found

    def _judgement(self, completion: ScoredCompletion) -> CitationJudgement:
        citations = completion.parsed.citations
        if not citations:
            applies = completion.row.get("answerable") is not False
            return CitationJudgement(0.0 if applies else None, (), {"ref_count": 0.0}, {})
        context = row_context(completion)
        examined = context.examined.setdefault(self.settings, {})
        return self.judge(citations, examined, context)

    def judge(self, citations: list[Citation],
                        examined: dict[tuple[str, int | None], _Examined],
                        context: _Context) -> CitationJudgement:
        """The judgement of a non-empty list of refs, each quote examined once (``examined``
        remembers them).

        >>> context = _context(("It runs between Shotwick and Helsby.",), "")
        >>> refs = parse_completion('E<|language_end|><|answer_start|>A<ref name="1">It runs '
        ...                         'between Shotwick and Helsby.</ref><|answer_end|>').citations
        >>> judgement = citation_reward.judge(refs, {}, context)
        >>> judgement.score, judgement.refs[0].verdict, judgement.metrics["exact_rate"]
        (1.0, 'exact', 1.0)
        """
        refs: list[JudgedRef] = []
        seen_quotes: set[str] = set()
        seen_raw: set[str] = set()
        for index, citation in enumerate(citations):
            found = examined.get((citation.quote, citation.source_id))
            if found is None:
                found = self.examine(citation.quote, citation.source_id, context)
                if len(examined) < MAX_EXAMINED_QUOTES:
                    examined[citation.quote, citation.source_id] = found
            refs.append(self._judge(index, citation, found, seen_quotes, seen_raw))
        refs = self._penalise_tiny_refs(refs)
        metrics, rag_eval = _summaries(refs)
        return CitationJudgement(min(ref.score for ref in refs), tuple(refs), metrics, rag_eval)

    def _penalise_tiny_refs(self, refs: list[JudgedRef]) -> list[JudgedRef]:
        """The refs, those :func:`pleias_rl.rewards.evidence.tiny_refs` flags among the honest
        ones judged ``tiny_refs`` instead (an answer stitched from many tiny quotes)."""
        if len(refs) <= MAX_TINY_REFS:
            return refs
        flags = tiny_refs([len(ref.citation.quote.split()) for ref in refs])
        ceiling = self.settings.tiny_ref_score
        return [ref._replace(verdict="tiny_refs", score=min(ref.score, ceiling))
                if tiny and ref.verdict in HONEST_VERDICTS else ref for ref, tiny in zip(refs, flags)]

    def _judge(self, index: int, citation: Citation, examined: _Examined,
               seen_quotes: set[str], seen_raw: set[str]) -> JudgedRef:
        """One ref: its examined quote, judged in its place (updates the seen sets)."""
        quote = citation.quote.strip()
        if not citation.closed:
            verdict, score = "unclosed", 0.0
        elif examined.verdict is None:
            verdict, score = "invalid_id", 0.0
        elif examined.key in seen_quotes:
            verdict, score = "duplicate", self.settings.duplicate_score
        else:
            verdict, score = examined.verdict, examined.score
        seen_quotes.add(examined.key)
        not_duplicated = quote not in seen_raw
        seen_raw.add(quote)
        return JudgedRef(index, citation, verdict, score, examined, not_duplicated)

    def examine(self, raw_quote: str, source_id: int | None,
                          context: _Context) -> _Examined:
        """Align one quote with its cited source and find it in the others; its verdict.

        >>> context = _context(("It runs between Shotwick and Helsby.",), "")
        >>> found = citation_reward.examine("between Shotwick and Helsby", 1, context)
        >>> found.verdict, found.span, found.sw_score  # "helsby" is not the source's "helsby."
        ('exact', (8, 35), 0.75)
        """
        quote = raw_quote.strip()
        fragments = split_fragments(quote)
        needles = [fold(fragment) for fragment in fragments]
        id_valid = source_id is not None and 1 <= source_id <= len(context.sources)
        source = context.sources[source_id - 1] if id_valid else ""
        alignment = (align_fragments(fragments, source, self.settings.paraphrase_threshold)
                     if id_valid and fragments else None)
        found_in = _found_in(needles, context, source_id)
        key = " (…) ".join(needles)
        verdict, score = (self._verdict(raw_quote, source, needles, key, alignment, found_in,
                                        context) if id_valid else (None, 0.0))
        span = alignment.span if alignment is not None else None
        return _Examined(
            key, alignment, verdict, score, span, alignment.text[:MAX_DIAGNOSTIC_CHARS] if alignment else "",
            tuple(found_in), len(quote.split(None, 2)) > 2,
            _sw_score(quote, source, alignment, self.settings.exact_sw) if id_valid else 0.0)

    def _verdict(self, quote: str, source: str, needles: list[str], key: str,
                 alignment: Alignment | None, found_in: list[int],
                 context: _Context) -> tuple[str, float]:
        """The checks in order of precedence for a quote of a valid source (unclosed, invalid
        and duplicate refs are decided by :meth:`_judge`); the first that fires decides."""
        settings = self.settings
        words = [needle.count(" ") + 1 for needle in needles]
        if alignment is None or self._too_short(words):
            return "too_short", settings.too_short_score
        if not alignment.in_order:
            return "out_of_order", 0.0
        if alignment.exact:
            if alignment.number_mismatches:
                return "number_changed", 0.0
            flaw = elision_flaw(source, [f.span for f in alignment.fragments if f.span is not None])
            if flaw is not None:
                return flaw, 0.0
            elsewhere = bool(found_in) or (sum(words) < GENERIC_MAX_WORDS
                                           and said_elsewhere(quote, context.sources, source))
            if unspecific(quote, elsewhere, min(settings.min_quote_words, MIN_CONTENT_WORDS)):
                return "unspecific", settings.unspecific_score
            if self._dumped(quote, sum(words), alignment, source):
                return "source_dump", settings.source_dump_score
            return ("elided" if alignment.elided else "exact"), 1.0
        if alignment.score >= settings.fuzzy_threshold and self._dumped(
                quote, sum(words), alignment, source):
            return "source_dump", settings.source_dump_score  # a near-exact dump
        return self._inexact_verdict(quote, key, source, alignment, found_in, context)

    def _inexact_verdict(self, quote: str, key: str, source: str, alignment: Alignment,
                         found_in: list[int], context: _Context) -> tuple[str, float]:
        settings = self.settings
        similarity = alignment.score
        if found_in and similarity < settings.fuzzy_threshold:
            return "wrong_source", 0.0
        if context.folded_query and _may_reach(key, context.folded_query, settings.query_threshold):
            from_query = fuzz.partial_ratio(key, context.folded_query,
                                            score_cutoff=100 * settings.query_threshold) / 100
            if (from_query >= settings.query_threshold and from_query > similarity
                    and query_copied(quote, source, context.folded_query)):
                return "query_quote", 0.0
        if alignment.number_mismatches and similarity >= settings.paraphrase_threshold:
            return "number_changed", 0.0
        if similarity >= settings.fuzzy_threshold:
            window = aligned_words(alignment, source)
            changed = meaning_changed(quote, window)
            if changed is not None:
                return changed, 0.0
            if words_changed(quote, window):
                return "paraphrase", settings.paraphrase_ceiling
            gained = (similarity - settings.fuzzy_threshold) / (1 - settings.fuzzy_threshold)
            return "fuzzy", settings.fuzzy_floor + (1 - settings.fuzzy_floor) * gained
        if similarity >= settings.paraphrase_threshold:
            gained = ((similarity - settings.paraphrase_threshold)
                      / (settings.fuzzy_threshold - settings.paraphrase_threshold))
            return "paraphrase", settings.paraphrase_ceiling * gained
        return "fabricated", 0.0

    def _too_short(self, words: list[int]) -> bool:
        """Under ``min_quote_words`` words in all, or an elided fragment too short to be evidence."""
        if sum(words) < self.settings.min_quote_words:
            return True
        return len(words) > 1 and min(words) < self.settings.min_fragment_words

    def _dumped(self, quote: str, words: int, alignment: Alignment, source: str) -> bool:
        """A quote of several sentences covering most of its source, or simply far too long."""
        if words > self.settings.max_quote_words:
            return True
        span = alignment.span
        if span is None or span[1] - span[0] < self.settings.dump_coverage * len(source.strip()):
            return False
        breaks = len(SENTENCE_BREAK.findall(quote if alignment.exact else alignment.text))
        return breaks + 1 >= self.settings.dump_min_sentences


CONTEXT_WORDS = 3
"""Source words kept on each side of a fuzzy window (:func:`aligned_words`)."""


def aligned_words(alignment: Alignment, source: str) -> str:
    """The source text each aligned fragment covers, widened to whole words and
    :data:`CONTEXT_WORDS` more on each side, joined by spaces.

    >>> source = "The A5117 is a road in Cheshire. It runs between Shotwick and Helsby."
    >>> aligned_words(align.align_quote("runs betwen Shotwik", source), source)
    'in Cheshire. It runs between Shotwick and Helsby.'
    """
    def widened(span: tuple[int, int]) -> str:
        start, end = word_start(source, span[0]), word_end(source, span[1])
        before = source[:start].split()[-CONTEXT_WORDS:]
        after = source[end:].split()[:CONTEXT_WORDS]
        return " ".join(before + [source[start:end]] + after)
    return " ".join(widened(fragment.span) for fragment in alignment.fragments if fragment.span is not None)


def _may_reach(text: str, other: str, threshold: float) -> bool:
    """False when ``fuzz.partial_ratio(text, other)`` is surely under ``threshold`` (0..1).

    Every window partial_ratio scores is a substring of the longer text, at most as long as
    the shorter (``m`` characters): its ratio ``2 L / (m + k)`` (``L`` common characters in
    order, ``k >= L`` window characters) is at most ``2 X / (m + X)``, ``X`` the longest
    common subsequence of the whole texts: one cheap bit-parallel pass instead of many.

    >>> _may_reach("the road to helsby", "which road leads to helsby?", 0.85)
    True
    >>> _may_reach("opened in 1994", "which road leads to helsby?", 0.85)
    False
    """
    shortest = min(len(text), len(other))
    if not shortest:
        return True
    common = LCSseq.similarity(text, other)
    return 2 * common / (shortest + common) >= threshold - 1e-9


def _found_in(needles: list[str], context: _Context, cited: int | None) -> list[int]:
    """Ids of the other sources that contain every fragment of the quote exactly, in order."""
    if not needles:
        return []
    candidates = context.folded.containing(needles[0])
    if len(needles) == 1:
        return [number for number in candidates if number != cited]
    texts = context.folded.texts
    return [number for number in candidates
            if number != cited and _contains_in_order(texts[number - 1], needles)]


def _contains_in_order(haystack: str, needles: Sequence[str]) -> bool:
    cursor = 0
    for needle in needles:
        found = haystack.find(needle, cursor)
        if found < 0:
            return False
        cursor = found + len(needle)
    return True


def _sw_score(quote: str, source: str, alignment: Alignment | None, exact_sw: bool) -> float:
    """Pleias' Smith-Waterman score, computed cheaply when the quote is exact.

    An exact quote has the words of the source window, except perhaps the edge words glued to
    their neighbours ("defunct).The"): the best alignment is then the diagonal one, scored in
    linear time. Otherwise the aligned window (widened by half the quote) is aligned, by
    :func:`smith_waterman` when ``exact_sw`` else by :func:`fast_smith_waterman`.
    """
    if alignment is not None and alignment.span is not None:
        start, end = alignment.span
        if alignment.exact and not alignment.elided:
            if alignment.text == quote and (start == 0 or source[start - 1].isspace()) and (
                    end == len(source) or source[end].isspace()):
                return 1.0
            quote_words = quote.lower().split()
            window_words = source[word_start(source, start):word_end(source, end)].lower().split()
            if len(quote_words) == len(window_words):
                return _diagonal_score(quote_words, window_words)
        reach = len(quote) // 2
        source = source[max(0, start - reach):end + reach]
    return (smith_waterman if exact_sw else fast_smith_waterman)(quote, source)


def _diagonal_score(quote_words: list[str], window_words: list[str]) -> float:
    """Smith-Waterman restricted to the diagonal (best run of +2 match / -1 mismatch).

    >>> _diagonal_score(["a", "b", "c"], ["xa", "b", "c"])
    0.6666666666666666
    """
    best = running = 0
    for quote_word, window_word in zip(quote_words, window_words):
        if quote_word == window_word:
            running += 2
            if running > best:
                best = running
        elif running:
            running -= 1
    return best / 2 / len(quote_words)


def _summaries(refs: Sequence[JudgedRef]) -> tuple[dict[str, float], dict[str, float]]:
    """The metrics the trainer logs as ``citation/<name>``, and Pleias' four RAG-Eval measures
    averaged over refs with their mean (the "rag rank"), in one pass over the refs.

    >>> examined = _Examined("q", None, "exact", 1.0, None, "", (), True, 0.5)
    >>> citation = parse_completion('E<|language_end|><|answer_start|><ref name="1">q</ref>').citations[0]
    >>> metrics, rag_eval = _summaries([JudgedRef(0, citation, "exact", 1.0, examined, False)])
    >>> metrics["honest_rate"], rag_eval["rag_rank"]
    (1.0, 0.625)
    """
    count = len(refs)
    id_valid = long_enough = not_duplicated = sw_score = scores = 0.0
    exact = honest = 0
    for ref in refs:
        examined, verdict = ref.examined, ref.verdict
        id_valid += examined.verdict is not None
        long_enough += examined.long_enough
        not_duplicated += ref.not_duplicated
        sw_score += examined.sw_score
        exact += verdict == "exact" or verdict == "elided"
        honest += verdict in HONEST_VERDICTS
        scores += ref.score
    rag_eval = {"id_valid": id_valid / count, "long_enough": long_enough / count,
                "not_duplicated": not_duplicated / count, "sw_score": sw_score / count}
    rag_eval["rag_rank"] = (rag_eval["id_valid"] + rag_eval["long_enough"]  # added in order:
                            + rag_eval["not_duplicated"] + rag_eval["sw_score"]) / 4  # as in C
    metrics = {"ref_count": float(count), "valid_id_rate": rag_eval["id_valid"],
               "exact_rate": exact / count, "honest_rate": honest / count,
               "mean_ref_score": scores / count, "rag_eval_mean": rag_eval["rag_rank"]}
    return metrics, rag_eval


citation_reward = CitationReward()
"""The default citation reward (TRL-compatible callable)."""
