"""The report's adversarial exercises on RAG rows: dropping, shuffling, refusals, languages.

Every exercise is deterministic: its random draws come from a generator seeded with the
build seed, the exercise name and the row's position and id (:func:`row_random`), so the
same input and options always give the same rows, whatever ran before. Each exercise applied
is named in ``meta["exercises"]``; translations are described in ``meta["translation"]``.
Source ids (``supporting_ids``, ``meta["supporting_sentences"]``,
``meta["translation"]["source_ids"]``) are remapped whenever sources move
(:func:`reorder_sources`).
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from pleias_rl.data.readers import sentence_segments
from pleias_rl.data.translate import Translator

DEFAULT_SEED = 1234
"""The build seed when none is given (two runs with the same arguments give the same rows)."""

REFUSAL_POOL = 64
"""How many recent queries the refusal exercise may borrow from."""


@dataclass(frozen=True)
class ExerciseOptions:
    """Which exercises run and how often (defaults: the report's recipe).

    ``drop_sources`` keeps 1..``max_sources`` sources per row (supporting ones kept, except
    on a ``drop_supporting_rate`` share of rows, which then become unanswerable when a
    supporting source goes); ``shuffle_rate`` of rows get their sources shuffled;
    ``refusal_rate`` get another row's query (unanswerable); ``language_rate`` get their
    query (half) or some sources (half) translated to one of ``languages`` -- only when a
    ``translator`` is given.

    >>> ExerciseOptions().shuffle_rate, ExerciseOptions.none().refusal_rate
    (0.5, 0.0)
    """

    seed: int = DEFAULT_SEED
    drop_sources: bool = True
    max_sources: int = 10
    drop_supporting_rate: float = 0.0
    shuffle_rate: float = 0.5
    refusal_rate: float = 0.05
    language_rate: float = 0.1
    languages: tuple[str, ...] = ("fr", "de", "it", "es")
    translator: Translator | None = None

    @classmethod
    def none(cls, seed: int = DEFAULT_SEED) -> "ExerciseOptions":
        """Options with every exercise off (evaluation sets).

        >>> ExerciseOptions.none().drop_sources
        False
        """
        return cls(seed=seed, drop_sources=False, shuffle_rate=0.0, refusal_rate=0.0,
                   language_rate=0.0)


def row_random(seed: int, exercise: str, index: int, row_id: str) -> random.Random:
    """The random generator of one exercise on one row (string seeds hash deterministically).

    >>> row_random(1, "shuffle", 0, "a").random() == row_random(1, "shuffle", 0, "a").random()
    True
    """
    return random.Random(f"{seed}/{exercise}/{index}/{row_id}")


def _copy_row(row: dict[str, Any]) -> dict[str, Any]:
    """A copy whose ``meta`` lists and mappings are new too (exercises replace, never mutate,
    the values inside them)."""
    out = dict(row)
    out["meta"] = {key: value.copy() if isinstance(value, (list, dict)) else value
                   for key, value in row["meta"].items()}
    return out


def reorder_sources(row: dict[str, Any], order: list[int]) -> dict[str, Any]:
    """A copy of ``row`` keeping the sources whose 1-based ids are in ``order``, in that order.

    Supporting ids, supporting sentences and translated-source ids are remapped; those of
    sources left out are removed (the caller decides whether the row stays answerable).

    >>> row = {"sources": ["a", "b", "c"], "supporting_ids": [1, 3],
    ...        "meta": {"supporting_sentences": [[3, "c"], [1, "a"]], "exercises": [],
    ...                 "translation": {"language": "", "query": False, "source_ids": [3]}}}
    >>> out = reorder_sources(row, [3, 2])
    >>> out["sources"], out["supporting_ids"], out["meta"]["supporting_sentences"]
    (['c', 'b'], [1], [[1, 'c']])
    """
    new_id = {old: new for new, old in enumerate(order, start=1)}
    out = _copy_row(row)
    meta = out["meta"]
    out["sources"] = [row["sources"][old - 1] for old in order]
    out["supporting_ids"] = sorted(new_id[i] for i in row["supporting_ids"] if i in new_id)
    meta["supporting_sentences"] = [[new_id[i], text] for i, text in meta["supporting_sentences"]
                                    if i in new_id]
    translation = meta["translation"]
    translation["source_ids"] = sorted(new_id[i] for i in translation["source_ids"] if i in new_id)
    return out


def make_unanswerable(row: dict[str, Any], exercise: str) -> dict[str, Any]:
    """A copy of ``row`` marked not answerable: no gold answer, no supporting evidence.

    >>> row = {"answer": "A", "answer_aliases": ["a"], "supporting_ids": [1], "answerable": True,
    ...        "meta": {"supporting_sentences": [[1, "x"]], "exercises": []}}
    >>> out = make_unanswerable(row, "refusal")
    >>> out["answerable"], out["answer"], out["supporting_ids"], out["meta"]["exercises"]
    (False, None, [], ['refusal'])
    """
    out = _copy_row(row)
    out.update(answerable=False, answer=None, answer_aliases=[], supporting_ids=[])
    out["meta"]["supporting_sentences"] = []
    out["meta"]["exercises"].append(exercise)
    return out


def drop_sources(row: dict[str, Any], rng: random.Random, max_sources: int = 10,
                 keep_supporting: bool = True) -> dict[str, Any]:
    """Keep a random number (1..``max_sources``) of sources, in their order.

    Supporting sources are kept when ``keep_supporting`` (the row then keeps at least all of
    them); otherwise any may go, and a row that loses one becomes unanswerable.

    >>> row = {"sources": list("abcdef"), "supporting_ids": [2], "answerable": True,
    ...        "meta": {"supporting_sentences": [[2, "b"]], "exercises": [],
    ...                 "translation": {"language": "", "query": False, "source_ids": []}}}
    >>> out = drop_sources(row, random.Random(0), max_sources=3)
    >>> "b" in out["sources"], len(out["sources"]) <= 3, out["meta"]["exercises"]
    (True, True, ['drop'])
    """
    count = len(row["sources"])
    if count == 0:
        return row
    keep = rng.randint(1, min(max_sources, count))
    supporting = set(row["supporting_ids"]) if keep_supporting else set()
    others = [i for i in range(1, count + 1) if i not in supporting]
    chosen = supporting | set(rng.sample(others, max(0, min(len(others), keep - len(supporting)))))
    out = reorder_sources(row, sorted(chosen))
    out["meta"]["exercises"].append("drop")
    if row["answerable"] and len(out["supporting_ids"]) < len(row["supporting_ids"]):
        return make_unanswerable(out, "drop_supporting")
    return out


def shuffle_sources(row: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """Shuffle the order of the sources, remapping every source id.

    >>> row = {"sources": ["a", "b", "c"], "supporting_ids": [1],
    ...        "meta": {"supporting_sentences": [[1, "a"]], "exercises": [],
    ...                 "translation": {"language": "", "query": False, "source_ids": []}}}
    >>> out = shuffle_sources(row, random.Random(3))
    >>> out["sources"][out["supporting_ids"][0] - 1], out["meta"]["supporting_sentences"][0][1]
    ('a', 'a')
    """
    order = list(range(1, len(row["sources"]) + 1))
    rng.shuffle(order)
    out = reorder_sources(row, order)
    out["meta"]["exercises"].append("shuffle")
    return out


def swap_query(row: dict[str, Any], query: str, language: str) -> dict[str, Any]:
    """The refusal exercise: ``row`` with another row's query, hence unanswerable.

    >>> row = {"query": "Q1", "language": "en", "answer": "A", "answer_aliases": [],
    ...        "supporting_ids": [1], "answerable": True,
    ...        "meta": {"supporting_sentences": [], "exercises": []}}
    >>> out = swap_query(row, "Q2", "en"); out["query"], out["answerable"]
    ('Q2', False)
    """
    out = make_unanswerable(row, "refusal")
    out.update(query=query, language=language)
    return out


def translate_text_keeping(text: str, keep: list[str], language: str,
                           translator: Translator) -> tuple[str, dict[str, str]]:
    """Translate ``text``; each sentence of ``keep`` is translated on its own, so its
    translation is a literal part of the result. Returns the text and ``{sentence: translation}``.

    >>> upper = lambda text, language: text.upper()
    >>> translate_text_keeping("Intro. Gold fact. Outro.", ["Gold fact."], "fr", upper)
    ('INTRO. GOLD FACT. OUTRO.', {'Gold fact.': 'GOLD FACT.'})
    """
    pieces: list[str] = []
    mapping: dict[str, str] = {}
    pending = ""
    for segment, kept in sentence_segments(text, keep):
        if not kept:
            pending += segment
            continue
        pieces.append(translator(pending, language) if pending else "")
        pending = ""
        mapping[segment] = translator(segment, language).strip()
        pieces.append(mapping[segment])
    pieces.append(translator(pending, language) if pending else "")
    return "".join(pieces), mapping


def translate_sources(row: dict[str, Any], rng: random.Random, language: str,
                      translator: Translator) -> dict[str, Any]:
    """Translate a random non-empty subset of the sources into ``language``.

    Supporting sentences of translated sources are replaced by their translations, which
    stay literal excerpts of the translated source.

    >>> row = {"sources": [{"text": "Gold.", "metadata": {"title": "t"}}], "supporting_ids": [1],
    ...        "meta": {"supporting_sentences": [[1, "Gold."]], "exercises": [],
    ...                 "translation": {"language": "", "query": False, "source_ids": []}}}
    >>> out = translate_sources(row, random.Random(0), "fr", lambda t, l: "Or.")
    >>> out["sources"][0]["text"], out["meta"]["supporting_sentences"], out["meta"]["translation"]
    ('Or.', [[1, 'Or.']], {'language': 'fr', 'query': False, 'source_ids': [1]})
    """
    out = _copy_row(row)
    meta = out["meta"]
    count = len(row["sources"])
    chosen = sorted(rng.sample(range(1, count + 1), rng.randint(1, count)))
    out["sources"] = list(row["sources"])
    for source_id in chosen:
        source = out["sources"][source_id - 1]
        keep = [text for i, text in meta["supporting_sentences"] if i == source_id]
        text, mapping = translate_text_keeping(source["text"], keep, language, translator)
        out["sources"][source_id - 1] = {**source, "text": text}
        meta["supporting_sentences"] = [[i, mapping.get(s, s) if i == source_id else s]
                                        for i, s in meta["supporting_sentences"]]
    meta["translation"] = {"language": language, "query": False, "source_ids": chosen}
    meta["exercises"].append("translate_sources")
    return out


def translate_query(row: dict[str, Any], language: str, translator: Translator) -> dict[str, Any]:
    """Translate the query into ``language``; the row's language becomes ``language``.

    >>> row = {"query": "Who?", "language": "en", "meta": {"exercises": [],
    ...        "translation": {"language": "", "query": False, "source_ids": []}}}
    >>> out = translate_query(row, "fr", lambda t, l: "Qui ?"); out["query"], out["language"]
    ('Qui ?', 'fr')
    """
    out = _copy_row(row)
    out.update(query=translator(row["query"], language), language=language)
    out["meta"]["translation"] = {"language": language, "query": True, "source_ids": []}
    out["meta"]["exercises"].append("translate_query")
    return out


class ExerciseRunner:
    """Apply the exercises of :class:`ExerciseOptions` to rows streamed in order.

    Order: drop, shuffle, refusal, language switching. The refusal exercise borrows the query
    of one of the :data:`REFUSAL_POOL` previous rows with another id.

    >>> runner = ExerciseRunner(ExerciseOptions.none())
    >>> runner({"id": "a", "query": "Q", "sources": [], "meta": {}}, 0)["query"]
    'Q'
    """

    def __init__(self, options: ExerciseOptions) -> None:
        self.options = options
        self.recent: deque[tuple[str, str, str]] = deque(maxlen=REFUSAL_POOL)

    def __call__(self, row: dict[str, Any], index: int) -> dict[str, Any]:
        options = self.options
        row_id = str(row.get("id") or "")

        def rng(name: str) -> random.Random:
            return row_random(options.seed, name, index, row_id)

        original = (row_id, row["query"], row.get("language") or "en")
        if options.drop_sources:
            drop_rng = rng("drop")
            keep_supporting = drop_rng.random() >= options.drop_supporting_rate
            row = drop_sources(row, drop_rng, options.max_sources, keep_supporting)
        if rng("shuffle").random() < options.shuffle_rate:
            row = shuffle_sources(row, rng("shuffle-order"))
        refusal_rng = rng("refusal")
        borrowable = [entry for entry in self.recent if entry[0] != row_id and entry[1] != row["query"]]
        if refusal_rng.random() < options.refusal_rate and borrowable:
            _, query, language = refusal_rng.choice(borrowable)
            row = swap_query(row, query, language)
        language_rng = rng("language")
        if options.translator is not None and language_rng.random() < options.language_rate:
            language = language_rng.choice(options.languages)
            if language_rng.random() < 0.5:
                row = translate_query(row, language, options.translator)
            elif row["sources"]:
                row = translate_sources(row, language_rng, language, options.translator)
        self.recent.append(original)
        return row


def apply_exercises(rows: Iterable[dict[str, Any]], options: ExerciseOptions) -> Iterator[dict[str, Any]]:
    """Stream ``rows`` through the exercises (see :class:`ExerciseRunner`).

    >>> list(apply_exercises([], ExerciseOptions()))
    []
    """
    runner = ExerciseRunner(options)
    for index, row in enumerate(rows):
        yield runner(row, index)
