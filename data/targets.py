"""Oracle completions: well-formed Pleias outputs that quote the gold evidence literally.

Built only with :func:`pleias_rl.data.format.render_completion` and :func:`pleias_rl.data.format.format_ref` from a
row's ``meta.supporting_sentences`` (``[[source_id, sentence], ...]``, see
:mod:`pleias_rl.data.readers`). They are warm-start SFT targets and the honest examples the citation
reward is measured on: every target scores citation 1.0 and format 1.0.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from pleias_rl.data.format import format_ref, neutralise, render_completion
from pleias_rl.data.schema import ISO_LANGUAGES, gold_answers, source_texts
from pleias_rl.data.wordlists import MEANING_WORDS, NUMBER_WORDS

ELISION = " (…) "
"""The marker :func:`elide_sentence` puts between kept fragments."""
MIN_ELIDED_WORDS = 14
"""Sentences shorter than this are quoted whole even when eliding."""
KEPT_WORDS = 5
"""Words kept on each side of an elision (more where a number or a qualifier sits there)."""
MIN_GAP_WORDS = 4
"""An elision leaves out at least this many words (else the sentence is quoted whole)."""

_NOT_AFTER = "".join(rf"(?<!\b{word}[.!?])" for word in (
    "[A-Z]", "Mr", "Mrs", "Ms", "Dr", "St", "Jr", "Sr", "Prof", "Gen", "Col", "Lt", "vs", "No"))
SENTENCE_BREAK = re.compile(r"[.!?]" + _NOT_AFTER + r"[\"')\]]*\s+(?=[\"'(]?[A-Z0-9])")
"""A sentence end: an end mark not after an initial ("E. W.") or a title ("Mr."), space, capital."""


def sentences(text: str) -> list[str]:
    """Split text into sentences at :data:`SENTENCE_BREAK`.

    >>> sentences("It is a road. It runs 5 km. E. W. Scripps made it. 2 lanes.")
    ['It is a road.', 'It runs 5 km.', 'E. W. Scripps made it.', '2 lanes.']
    """
    pieces: list[str] = []
    cursor = 0
    for match in SENTENCE_BREAK.finditer(text):
        pieces.append(text[cursor:match.end()].strip())
        cursor = match.end()
    pieces.append(text[cursor:].strip())
    return [piece for piece in pieces if piece]


def supporting_evidence(row: Mapping[str, Any]) -> list[tuple[int, str]]:
    """The gold ``(source_id, sentence)`` pairs of a row that occur in a valid source, deduplicated.

    >>> supporting_evidence({"sources": ["A b.", "C d."],
    ...     "meta": {"supporting_sentences": [[2, "C d."], [2, "C d."], [9, "x"], [1, " "]]}})
    [(2, 'C d.')]
    """
    count = len(source_texts(row.get("sources")))
    meta = row.get("meta") if isinstance(row.get("meta"), Mapping) else {}
    evidence: list[tuple[int, str]] = []
    for item in meta.get("supporting_sentences") or []:
        if not (isinstance(item, (list, tuple)) and len(item) == 2):
            continue
        source_id, sentence = item
        pair = (source_id, sentence.strip() if isinstance(sentence, str) else "")
        if isinstance(source_id, int) and 1 <= source_id <= count and pair[1] and pair not in evidence:
            evidence.append(pair)
    return evidence


def elide_sentence(sentence: str) -> str:
    """Shorten a long sentence to its first and last words around ``(…)``, honestly: a number
    next to the kept words stays with them, and a sentence is quoted whole when the elision
    would leave out a negation or a qualifier (:data:`pleias_rl.data.wordlists.MEANING_WORDS`),
    fewer than :data:`MIN_GAP_WORDS` words, or a sentence end.

    >>> elide_sentence("Ann Lee (born 12 May 1950) is an English actress known for her roles in many films.")
    'Ann Lee (born 12 May 1950) (…) her roles in many films.'
    >>> elide_sentence("The jury found the contractor was not guilty of negligence on that day in May.")
    'The jury found the contractor was not guilty of negligence on that day in May.'
    >>> elide_sentence("Too short to elide.")
    'Too short to elide.'
    """
    words = sentence.split()
    if len(words) < MIN_ELIDED_WORDS or len(sentences(sentence)) > 1:
        return sentence
    head, tail = KEPT_WORDS, len(words) - KEPT_WORDS
    while head < tail and _stays_kept(words[head]):
        head += 1
    while tail > head and _stays_kept(words[tail - 1]):
        tail -= 1
    gap = [token for word in words[head:tail] for token in _TOKEN.findall(word.lower())]
    if len(gap) < MIN_GAP_WORDS or any(token in MEANING_WORDS or token.endswith("n't") for token in gap):
        return sentence
    return " ".join(words[:head]) + ELISION + " ".join(words[tail:])


_TOKEN = re.compile(r"\w+(?:['’]\w+)*")


def _stays_kept(word: str) -> bool:
    """A word next to an elision that stays with the kept words: punctuation or a number."""
    tokens = _TOKEN.findall(word.lower())
    return not tokens or any(token in NUMBER_WORDS or any(c.isdigit() for c in token)
                             for token in tokens[:1] + tokens[-1:])


def oracle_completion(row: Mapping[str, Any], *, trivial: bool = True, elide: bool = False,
                      language_name: str | None = None) -> str:
    """Write a well-formed completion quoting each supporting sentence of ``row`` literally.

    ``trivial`` takes the short path (no source analysis, source report or draft);
    ``elide`` shortens long quotes with ``(…)``; ``language_name`` overrides the language line
    (default: the row's ``language`` as an English name). A row with ``answerable`` false or
    without evidence gets a refusal. The reasoning sections are English, as upstream.

    >>> row = {"query": "Where does the A5117 end?", "answer": "Helsby",
    ...        "sources": ["The A5117 is a road. It runs between Shotwick and Helsby."],
    ...        "meta": {"supporting_sentences": [[1, "It runs between Shotwick and Helsby."]]}}
    >>> print(oracle_completion(row))
    English<|language_end|>
    <|query_analysis_start|>The query asks: "Where does the A5117 end?" Source 1 holds the evidence needed; the answer quotes it.<|query_analysis_end|>
    <|query_report_start|>Trivial<|query_report_end|>
    <|answer_start|>The answer is Helsby. Source 1 supports this<ref name="<|source_id|>1">It runs between Shotwick and Helsby.</ref>.<|answer_end|><|end_of_text|>
    """
    language = language_name or ISO_LANGUAGES.get(str(row.get("language") or "en"), "English")
    evidence = supporting_evidence(row)
    query = neutralise(str(row.get("query") or "")).strip()
    if row.get("answerable") is False or not evidence:
        return _refusal(language, query, trivial)
    cited = sorted({source_id for source_id, _ in evidence})
    answer = _answer(row, evidence, elide)
    analysis = (f'The query asks: "{query}" {_sources_phrase(cited)} the evidence needed; '
                f"the answer quotes it.")
    if trivial:
        return render_completion(language=language, query_analysis=analysis,
                                 query_report="Trivial", answer=answer)
    return render_completion(
        language=language, query_analysis=analysis, query_report="Answerable",
        source_analysis=f"{_sources_phrase(cited)} statements that answer the query directly.",
        source_report="Extensive" if len(cited) > 1 else "Basic",
        draft=_draft(row, evidence), answer=answer)


def _sources_phrase(cited: list[int]) -> str:
    if len(cited) == 1:
        return f"Source {cited[0]} holds"
    return "Sources " + ", ".join(map(str, cited[:-1])) + f" and {cited[-1]} hold"


def _lead(row: Mapping[str, Any]) -> str:
    answers = gold_answers(row)
    return f"The answer is {neutralise(answers[0])}." if answers else "The sources answer this."


_CLAIMS = ("Source {} supports this", "Source {} confirms it", "Source {} also states it",
           "Further evidence comes from source {}")


def _answer(row: Mapping[str, Any], evidence: list[tuple[int, str]], elide: bool) -> str:
    """The lead sentence, then one claim per cited source followed by its refs back to back."""
    claims = []
    for number, source_id in enumerate(dict.fromkeys(source_id for source_id, _ in evidence)):
        refs = "".join(format_ref(source_id, neutralise(elide_sentence(sentence) if elide else sentence))
                       for cited, sentence in evidence if cited == source_id)
        claims.append(_CLAIMS[number % len(_CLAIMS)].format(source_id) + refs + ".")
    return " ".join([_lead(row), *claims])


def _draft(row: Mapping[str, Any], evidence: list[tuple[int, str]]) -> str:
    cited = ", ".join(str(source_id) for source_id in sorted({s for s, _ in evidence}))
    return f"{_lead(row)} Evidence to quote from source(s) {cited}."


def _refusal(language: str, query: str, trivial: bool) -> str:
    answer = "The sources do not contain the information needed to answer this query."
    analysis = f'The query asks: "{query}" None of the sources addresses it.'
    if trivial:
        return render_completion(language=language, query_analysis=analysis,
                                 query_report="Refused", answer=answer)
    return render_completion(
        language=language, query_analysis=analysis, query_report="Answerable",
        source_analysis="The sources discuss other subjects.", source_report="Infeasible",
        draft="No source answers the query.", answer=answer)
