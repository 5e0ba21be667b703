"""Deterministic corruptions of an honest completion's citations (reward tests, critic repairs).

Each generator has the signature ``(completion, row, rng) -> str | None``: it rewrites the refs
of an honest completion (e.g. :func:`pleias_rl.data.targets.oracle_completion`) and returns the corrupted
completion, or ``None`` when the row offers nothing to corrupt that way (no number to change,
no long source to dump). :func:`corrupt` looks one up by name with a seed, so the same
arguments always give the same text. Everything else in the completion is left untouched.
"""

from __future__ import annotations

import random
import re
from typing import Any, Callable, Mapping, Sequence

from pleias_rl.data.format import ELISION_MARKERS, Citation, format_ref, neutralise, parse_completion
from pleias_rl.data.schema import source_texts
from pleias_rl.data.targets import oracle_completion, sentences, supporting_evidence

Corruption = Callable[[str, Mapping[str, Any], random.Random], "str | None"]

_DIGIT = re.compile(r"\d")
_ELISION = " " + ELISION_MARKERS[0] + " "
_FABRICATIONS = (
    "{0} was founded in {1} by a group of travelling merchants from the coast.",
    "According to local records, {0} received a royal charter in {1} after a long dispute.",
    "{0} is best known for its annual autumn festival, first held in {1}.",
    "In {1}, {0} was renamed twice before the council settled on its present name.",
    "Critics have described {0} as the most influential work of its decade, released in {1}.",
)
_PARAPHRASE_WORDS = {
    "is": "was", "was": "is", "the": "a", "a": "the", "and": "as well as", "in": "within",
    "of": "from", "by": "through", "which": "that", "also": "additionally", "for": "to",
    "american": "US", "born": "raised", "known": "famous", "located": "situated",
}


def _citations(completion: str) -> list[Citation]:
    return parse_completion(completion).citations


def _rewrite(completion: str, replacements: Mapping[int, tuple[Any, str]]) -> str:
    """Replace the refs whose index is in ``replacements`` by ``(source_id, quote)`` refs."""
    pieces: list[str] = []
    cursor = 0
    for index, citation in enumerate(_citations(completion)):
        if index in replacements:
            source_id, quote = replacements[index]
            pieces.append(completion[cursor:citation.span[0]])
            pieces.append(format_ref(source_id, neutralise(quote)))
            cursor = citation.span[1]
    pieces.append(completion[cursor:])
    return "".join(pieces)


def _rewrite_all(completion: str, rewrite: Callable[[Citation], tuple[Any, str] | None]) -> str | None:
    """Apply ``rewrite`` to every ref; ``None`` when it applies to none of them."""
    replacements = {}
    for index, citation in enumerate(_citations(completion)):
        replacement = rewrite(citation)
        if replacement is not None:
            replacements[index] = replacement
    return _rewrite(completion, replacements) if replacements else None


def _rewrite_cited(completion: str, row: Mapping[str, Any],
                   rewrite: Callable[[Citation, str], str | None]) -> str | None:
    """Rewrite every ref with a valid id from the ref and its source text (``None``: keep it)."""
    texts = source_texts(row.get("sources"))

    def one(citation: Citation) -> tuple[Any, str] | None:
        text = _cited_text(citation, texts)
        quote = None if text is None else rewrite(citation, text)
        return None if quote is None else (citation.raw_id, quote)
    return _rewrite_all(completion, one)


def _cited_text(citation: Citation, texts: list[str]) -> str | None:
    """The text of the source a citation names, or ``None`` when the id is not valid."""
    if citation.source_id is None or not 1 <= citation.source_id <= len(texts):
        return None
    return texts[citation.source_id - 1]


def _names(quote: str) -> str:
    """The capitalised words of a quote (the entity a fabrication is about)."""
    words = [w.strip(".,;:()\"'") for w in quote.split()[1:] if w[:1].isupper()]
    return " ".join(words[:3]) or "The place"


def fabricated_quotes(completion: str, row: Mapping[str, Any], rng: random.Random) -> str | None:
    """Every quote replaced by an invented sentence about the same entity (in no source).

    >>> honest = 'E<|language_end|><|answer_start|>X<ref name="1">In 1990 Helsby Hill was sold.</ref><|answer_end|>'
    >>> fabricated_quotes(honest, {}, random.Random(0)).count("Helsby Hill")
    1
    """
    def fabricate(citation: Citation) -> tuple[Any, str]:
        template = rng.choice(_FABRICATIONS)
        return citation.raw_id, template.format(_names(citation.quote), rng.randint(1650, 1990))
    return _rewrite_all(completion, fabricate)


def wrong_source_ids(completion: str, row: Mapping[str, Any], rng: random.Random) -> str | None:
    """Every quote kept but attributed to another source that does not contain it.

    >>> row = {"sources": ["Ann sang songs all day.", "Bob sold old cars."]}
    >>> wrong_source_ids('E<|language_end|><|answer_start|>X<ref name="1">Ann sang songs</ref><|answer_end|>', row, random.Random(0))
    'E<|language_end|><|answer_start|>X<ref name="<|source_id|>2">Ann sang songs</ref><|answer_end|>'
    """
    texts = source_texts(row.get("sources"))

    def move(citation: Citation) -> tuple[Any, str] | None:
        others = [number for number, text in enumerate(texts, start=1)
                  if number != citation.source_id and citation.quote.strip() not in text]
        return (rng.choice(others), citation.quote) if others else None
    return _rewrite_all(completion, move)


def query_copies(completion: str, row: Mapping[str, Any], rng: random.Random) -> str | None:
    """Every quote replaced by the query itself (evidence copied from the question).

    >>> query_copies('E<|language_end|><|answer_start|>X<ref name="1">a b c</ref><|answer_end|>',
    ...              {"query": "Who sold the cars?"}, random.Random(0)).count("Who sold the cars?")
    1
    """
    query = str(row.get("query") or "").strip()
    if not query:
        return None
    return _rewrite_all(completion, lambda citation: (citation.raw_id, query))


def tiny_fragments(completion: str, row: Mapping[str, Any], rng: random.Random) -> str | None:
    """Every quote replaced by 3-4 one- or two-word pieces of its source stitched with ``(…)``.

    >>> row = {"sources": ["one two three four five six seven eight nine ten eleven twelve"]}
    >>> tiny_fragments('E<|language_end|><|answer_start|>X<ref name="1">q</ref><|answer_end|>', row,
    ...                random.Random(1)).count("(…)")
    2
    """
    def stitch(citation: Citation, text: str) -> str | None:
        words = text.split()
        if len(words) < 8:
            return None
        count = rng.choice((3, 4))
        starts = sorted(rng.sample(range(0, len(words) - 2, 2), min(count, (len(words) - 1) // 2)))
        return _ELISION.join(" ".join(words[s:s + rng.choice((1, 2))]) for s in starts)
    return _rewrite_cited(completion, row, stitch)


def changed_digit(completion: str, row: Mapping[str, Any], rng: random.Random) -> str | None:
    """One digit changed in the first quote that has one (``None`` if no quote has a digit).

    >>> changed_digit('E<|language_end|><|answer_start|>X<ref name="1">Built in 1990.</ref><|answer_end|>',
    ...               {}, random.Random(0))
    'E<|language_end|><|answer_start|>X<ref name="1">Built in 1997.</ref><|answer_end|>'
    """
    for citation in _citations(completion):
        digits = [m.start() for m in _DIGIT.finditer(citation.quote)]
        if digits:
            where = citation.quote_span[0] + digits[-1]
            old = completion[where]
            new = rng.choice([d for d in "0123456789" if d != old])
            return completion[:where] + new + completion[where + 1:]
    return None


def out_of_order_fragments(completion: str, row: Mapping[str, Any], rng: random.Random) -> str | None:
    """The first quote of 8+ words cut in two and written back to front around ``(…)``.

    >>> out = out_of_order_fragments('E<|language_end|><|answer_start|>X<ref name="1">a b c d e f g h</ref>'
    ...                              '<|answer_end|>', {}, random.Random(0))
    >>> parse_completion(out).citations[0].quote
    'e f g h (…) a b c d'
    """
    for index, citation in enumerate(_citations(completion)):
        words = citation.quote.split()
        if len(words) >= 8:
            middle = len(words) // 2
            swapped = " ".join(words[middle:]) + _ELISION + " ".join(words[:middle])
            return _rewrite(completion, {index: (citation.raw_id, swapped)})
    return None


def source_dump(completion: str, row: Mapping[str, Any], rng: random.Random) -> str | None:
    """Every quote replaced by the whole cited source, when that source has 3+ sentences.

    >>> row = {"sources": ["One is here. Two is there. Three is everywhere."]}
    >>> source_dump('E<|language_end|><|answer_start|>X<ref name="1">One is here.</ref><|answer_end|>', row,
    ...             random.Random(0)).count("Three is everywhere.")
    1
    """
    return _rewrite_cited(completion, row, lambda citation, text: (
        text.strip() if len(sentences(text)) >= 3 else None))


def paraphrase(quote: str, rng: random.Random) -> str:
    """Lightly reword a quote: swap common words, drop a few others, keep every number.

    >>> paraphrase("The road is located in the north of the county", random.Random(3))
    'a road was situated within a of a county'
    """
    words = quote.split()
    out: list[str] = []
    for word in words:
        bare = word.lower().strip(".,;:")
        if bare in _PARAPHRASE_WORDS and rng.random() < 0.7:
            out.append(_PARAPHRASE_WORDS[bare])
        elif not any(c.isdigit() for c in word) and len(words) > 6 and rng.random() < 0.12:
            continue
        else:
            out.append(word)
    return " ".join(out)


def paraphrased_quotes(completion: str, row: Mapping[str, Any], rng: random.Random) -> str | None:
    """Every quote lightly paraphrased (:func:`paraphrase`): close to the source, not literal.

    >>> out = paraphrased_quotes('E<|language_end|><|answer_start|>X<ref name="1">It is in the north.</ref>'
    ...                          '<|answer_end|>', {}, random.Random(0))
    >>> parse_completion(out).citations[0].quote
    'It is in a north.'
    """
    return _rewrite_all(completion, lambda citation: (citation.raw_id, paraphrase(citation.quote, rng)))


def duplicated_quote(completion: str, row: Mapping[str, Any], rng: random.Random) -> str | None:
    """The first ref repeated right after itself (the same quote cited twice).

    >>> duplicated_quote('E<|language_end|><|answer_start|>X<ref name="1">q r s</ref><|answer_end|>',
    ...                  {}, random.Random(0)).count("q r s")
    2
    """
    citations = _citations(completion)
    if not citations:
        return None
    first = citations[0]
    end = first.span[1]
    return completion[:end] + completion[first.span[0]:end] + completion[end:]


_TYPOGRAPHY = str.maketrans({"'": "\u2019", "-": "\u2013", '"': "\u201c"})


def retypeset_quotes(completion: str, row: Mapping[str, Any], rng: random.Random) -> str | None:
    """NOT a corruption: every quote kept but retypeset (curly quotes, en dashes, doubled
    spaces, first letter's case flipped), as a model may copy it. Must still count as exact.

    >>> out = retypeset_quotes('E<|language_end|><|answer_start|>X<ref name="1">A well-known road.</ref>'
    ...                        '<|answer_end|>', {}, random.Random(0))
    >>> parse_completion(out).citations[0].quote == "a  well\u2013known road."
    True
    """
    def retypeset(citation: Citation) -> tuple[Any, str]:
        quote = citation.quote.strip().translate(_TYPOGRAPHY).replace(" ", "  ", 1)
        return citation.raw_id, quote[:1].swapcase() + quote[1:]
    return _rewrite_all(completion, retypeset)


BAD_QUOTES: dict[str, Corruption] = {
    "fabricated": fabricated_quotes,
    "wrong_source": wrong_source_ids,
    "query_copy": query_copies,
    "tiny_fragments": tiny_fragments,
    "changed_digit": changed_digit,
    "out_of_order": out_of_order_fragments,
    "duplicate": duplicated_quote,
}
"""Corruptions that make a quote plainly wrong; :func:`honest_padding` hides one of them."""


def honest_padding(completion: str, row: Mapping[str, Any], rng: random.Random,
                   bad: str = "fabricated", extra: int = 4) -> str | None:
    """One bad quote (``bad``, a :data:`BAD_QUOTES` name) among honest ones, padded with up to
    ``extra`` more honest quotes (other sentences of the cited sources) so it is a minority.

    >>> row = {"sources": ["Ann sang a song. Ann danced all night long. Ann slept until noon today."]}
    >>> honest = 'E<|language_end|><|answer_start|>X<ref name="1">Ann sang a song.</ref> Y.<|answer_end|>'
    >>> padded = honest_padding(honest, row, random.Random(0))
    >>> padded.count("<ref"), "Ann danced all night long." in padded, "Ann sang a song." in padded
    (3, True, False)
    """
    citations = _citations(completion)
    corrupted = next((text for index in range(len(citations))
                      if (text := corrupt_one(completion, index, BAD_QUOTES[bad], row, rng))), None)
    if corrupted is None:
        return None
    texts = source_texts(row.get("sources"))
    quoted = {citation.quote.strip() for citation in citations}
    pool = [(citation.source_id, sentence) for citation in citations
            for sentence in sentences(_cited_text(citation, texts) or "")
            if sentence not in quoted and 5 <= len(sentence.split()) <= 60]
    pool = list(dict.fromkeys(pool))
    padding = "".join(format_ref(source_id, neutralise(sentence))
                      for source_id, sentence in rng.sample(pool, min(extra, len(pool))))
    last = _citations(corrupted)[-1].span[1]
    return corrupted[:last] + padding + corrupted[last:]


def corrupt_one(completion: str, index: int, corruption: Corruption, row: Mapping[str, Any],
                rng: random.Random) -> str | None:
    """Apply ``corruption`` to the ref number ``index`` only; the other refs stay honest.

    >>> honest = 'E<|language_end|><|answer_start|>X<ref name="1">a b</ref><ref name="1">c d</ref><|answer_end|>'
    >>> corrupted = corrupt_one(honest, 1, query_copies, {"query": "Why?"}, random.Random(0))
    >>> [citation.quote for citation in parse_completion(corrupted).citations]
    ['a b', 'Why?']
    """
    citations = _citations(completion)
    if not 0 <= index < len(citations):
        return None
    start, end = citations[index].span
    alone = f"<|answer_start|>{completion[start:end]}<|answer_end|>"
    corrupted = corruption(alone, row, rng)
    if corrupted is None:
        return None
    return completion[:start] + corrupted[len("<|answer_start|>"):-len("<|answer_end|>")] + completion[end:]


CORRUPTIONS: dict[str, Corruption] = {
    **BAD_QUOTES,
    "source_dump": source_dump,
    "paraphrase": paraphrased_quotes,
    "honest_padding": honest_padding,
}
"""Every corruption by name."""


def corrupt(completion: str, row: Mapping[str, Any], kind: str, seed: int = 0) -> str | None:
    """Apply the corruption called ``kind`` with a seeded generator (deterministic).

    >>> row = {"query": "Who sang?", "sources": ["Ann sang all day long."]}
    >>> honest = 'E<|language_end|><|answer_start|>X<ref name="1">Ann sang all day long.</ref><|answer_end|>'
    >>> corrupt(honest, row, "query_copy") == corrupt(honest, row, "query_copy")
    True
    """
    if kind not in CORRUPTIONS:
        raise KeyError(f"unknown corruption {kind!r}; known: {', '.join(sorted(CORRUPTIONS))}")
    return CORRUPTIONS[kind](completion, row, random.Random(f"{kind}:{seed}"))


PADDED_KINDS: tuple[str, ...] = ("fabricated", "wrong_source", "query_copy", "tiny_fragments",
                                 "changed_digit", "out_of_order")
"""Bad quotes hidden among honest ones by :func:`citation_cases` (``padded_<kind>``)."""


def citation_cases(rows: Sequence[Mapping[str, Any]], seed: int = 0) -> dict[str, list[tuple[str, Mapping[str, Any]]]]:
    """Honest and corrupted ``(completion, row)`` pairs by category, from rows with evidence.

    Honest: ``honest_trivial``, ``honest_full``, ``honest_elided`` (rows where a quote was
    shortened), ``honest_long`` (a supporting sentence of 30+ words quoted whole),
    ``honest_typography`` (:func:`retypeset_quotes`). Corrupted: every :data:`CORRUPTIONS`
    name but ``honest_padding`` applied to the Trivial target, plus ``padded_<kind>`` for each
    of :data:`PADDED_KINDS` (one bad quote among honest ones). Rows a corruption does not
    apply to are left out of that category.

    >>> row = {"query": "Who sang?", "sources": ["Ann sang all day long. Bob slept. Cy ate."],
    ...        "meta": {"supporting_sentences": [[1, "Ann sang all day long."]]}}
    >>> cases = citation_cases([row])
    >>> len(cases["honest_trivial"]), len(cases["fabricated"]), len(cases["honest_elided"])
    (1, 1, 0)
    """
    cases: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}

    def add(category: str, completion: str | None, row: Mapping[str, Any]) -> None:
        if completion is not None:
            cases.setdefault(category, []).append((completion, row))
        else:
            cases.setdefault(category, [])

    for number, row in enumerate(rows):
        if not supporting_evidence(row):
            continue
        honest = oracle_completion(row)
        add("honest_trivial", honest, row)
        add("honest_full", oracle_completion(row, trivial=False), row)
        elided = oracle_completion(row, elide=True)
        add("honest_elided", elided if elided != honest else None, row)
        long_enough = any(len(sentence.split()) >= 30 for _, sentence in supporting_evidence(row))
        add("honest_long", honest if long_enough else None, row)
        add("honest_typography", retypeset_quotes(honest, row, random.Random(seed + number)), row)
        for kind in CORRUPTIONS:
            if kind != "honest_padding":
                add(kind, corrupt(honest, row, kind, seed + number), row)
        for kind in PADDED_KINDS:
            rng = random.Random(f"padded_{kind}:{seed + number}")
            add(f"padded_{kind}", honest_padding(honest, row, rng, bad=kind), row)
    return cases
