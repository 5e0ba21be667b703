"""Readers that turn multi-hop QA records into RAG examples (contracts.md schema).

Every reader yields rows with ``id``, ``query``, ``sources`` (``{"text", "metadata": {"title"}}``
in the dataset's order), ``language``, ``answer`` (+ ``answer_aliases``), ``supporting_ids``
(1-based), ``answerable`` and ``meta``: ``dataset``, ``id``, ``type``, ``level``,
``supporting_sentences`` (``[[source_id, sentence], ...]``, the gold evidence quoted by
warm-start targets, each sentence a literal substring of its source), ``exercises`` (names of
the adversarial exercises applied, filled by :mod:`pleias_rl.data.exercises`) and ``translation``.
Every row has the same keys and value types, so a file of rows loads with
``datasets.load_dataset("json", ...)``.

Layouts (detected per record by :func:`detect_layout`):

- ``hotpotqa``: original HotpotQA JSON (``context: [[title, [sentences]]]``,
  ``supporting_facts: [[title, sentence_index]]``); 2WikiMultiHopQA uses the same layout
  (plus ``evidences``), so the 2Wiki reader shares it.
- ``hotpotqa-hf``: the Hugging Face ``hotpot_qa`` layout (``context: {"title", "sentences"}``,
  ``supporting_facts: {"title", "sent_id"}``); also used by Hub copies of 2Wiki.
- ``musique``: MuSiQue (``paragraphs`` with ``is_supporting``, ``question_decomposition``),
  answerable and unanswerable records.
- ``rag-jsonl``: rows already in the contracts schema.

Sources of HotpotQA, 2WikiMultiHopQA and MuSiQue are rendered ``Title: paragraph`` by
default, as in the report's own prompts (``<|source_id|>7 Helsby: Helsby is a village...``);
:func:`convert_record` with ``titles=False`` keeps the paragraph alone. The title stays in
``metadata.title`` either way; supporting ids and sentences are unchanged (each sentence is
still a literal substring of its source).

Files are streamed (:func:`iter_records`): JSON Lines line by line, a JSON array element by
element with an incremental decoder, so memory stays flat whatever the file size.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

from pleias_rl.data.jsonl import BadLine, decode_problem, read_values, surrogate_problem
from pleias_rl.data.schema import RowError, gold_answers, source_texts, validate_row

DATASETS: tuple[str, ...] = ("hotpotqa", "2wiki", "musique", "rag-jsonl")
"""Dataset names accepted by ``--format`` (``auto`` detects it from the first record)."""

_SENTENCE_BOUNDARY = re.compile(
    r"(?<=[.!?])(?<!\b[A-Z]\.)(?<!\bMr\.)(?<!\bDr\.)(?<!\bSt\.)(?<!\bJr\.)(?<!\bMrs\.)"
    r"[\"')\]]?\s+(?=[\"'(\[]?[A-Z0-9À-Ý])")
_WORD = re.compile(r"\S+")

MAX_EVIDENCE_WORDS = 40
"""Longest quote :func:`quotable_pieces` keeps (longer text gets a window around the answer)."""
_CHUNK_CHARS = 1 << 20


class RecordError(ValueError):
    """A record that cannot be converted; the message says what is wrong with it.

    >>> str(RecordError("hotpotqa record: missing key 'question'"))
    "hotpotqa record: missing key 'question'"
    """


class UnsupportedLayout(RecordError):
    """A record in none of the layouts the readers know (not malformed: another format).

    >>> str(UnsupportedLayout(["text", "label"]))  # doctest: +NORMALIZE_WHITESPACE
    'unsupported layout: expected the keys of HotpotQA/2Wiki (context, question), MuSiQue
    (paragraphs) or RAG JSONL (query, sources); found keys: label, text'
    """

    def __init__(self, found: Iterable[object]) -> None:
        keys = ", ".join(sorted(str(key) for key in found)) or "(none)"
        super().__init__(f"unsupported layout: expected the keys of {EXPECTED_LAYOUT_KEYS}; found keys: {keys}")


EXPECTED_LAYOUT_KEYS = "HotpotQA/2Wiki (context, question), MuSiQue (paragraphs) or RAG JSONL (query, sources)"
"""The keys :func:`detect_layout` recognises, as its error message names them."""


def empty_meta(dataset: str, record_id: str) -> dict[str, Any]:
    """The ``meta`` of a fresh row: every key present, with the same value types in every row.

    >>> empty_meta("hotpotqa", "x")["translation"]
    {'language': '', 'query': False, 'source_ids': []}
    """
    return {"dataset": dataset, "id": record_id, "type": "", "level": "",
            "supporting_sentences": [], "exercises": [],
            "translation": {"language": "", "query": False, "source_ids": []}}


def split_sentences(text: str) -> list[str]:
    """Split text into sentences that join back to exactly ``text`` (whitespace kept).

    >>> split_sentences("Ann was born in 1900. She died in Paris! (It rained.) ok")
    ['Ann was born in 1900. ', 'She died in Paris! ', '(It rained.) ok']
    """
    pieces: list[str] = []
    start = 0
    for match in _SENTENCE_BOUNDARY.finditer(text):
        pieces.append(text[start:match.end()])
        start = match.end()
    pieces.append(text[start:])
    return [piece for piece in pieces if piece]


def quotable_pieces(sentence: str, answer: str = "") -> list[str]:
    """Literal pieces of a gold sentence fit to quote: its sentences (a dataset's sentence
    may hold several), each longer than :data:`MAX_EVIDENCE_WORDS` words cut to a window of
    that many words around ``answer`` (or its start).

    >>> quotable_pieces("Ann was born in 1900. She was founded by E. W. Scripps.")
    ['Ann was born in 1900.', 'She was founded by E. W. Scripps.']
    >>> piece = quotable_pieces(" ".join(f"w{i}" for i in range(100)) + " Hall led it.", "Hall")[0]
    >>> len(piece.split()), piece.endswith("Hall led it.")
    (40, True)
    """
    pieces = []
    for part in (p.strip() for p in split_sentences(sentence)):
        words = list(_WORD.finditer(part))
        if len(words) > MAX_EVIDENCE_WORDS:
            at = part.lower().find(answer.lower()) if answer.strip() else -1
            center = next((i for i, w in enumerate(words) if w.end() > at), 0) if at >= 0 else 0
            first = max(0, min(center - MAX_EVIDENCE_WORDS // 2, len(words) - MAX_EVIDENCE_WORDS))
            part = part[words[first].start():words[first + MAX_EVIDENCE_WORDS - 1].end()]
        if part:
            pieces.append(part)
    return pieces


def sentence_segments(text: str, keep: Iterable[str] = ()) -> list[tuple[str, bool]]:
    """Partition ``text`` into ``(segment, is_kept)``: each sentence of ``keep`` found in the
    text is one whole segment; the rest is split into sentences. Segments join back to ``text``.

    >>> sentence_segments("A b. Gold c. D e.", keep=["Gold c."])
    [('A b. ', False), ('Gold c.', True), (' D e.', False)]
    """
    spans = sorted({(text.find(s), text.find(s) + len(s)) for s in keep if s and s in text})
    segments: list[tuple[str, bool]] = []
    cursor = 0
    for start, end in spans:
        if start < cursor:
            continue
        segments += [(piece, False) for piece in split_sentences(text[cursor:start])]
        segments.append((text[start:end], True))
        cursor = end
    segments += [(piece, False) for piece in split_sentences(text[cursor:])]
    return segments


def _source(text: str, title: str) -> dict[str, Any]:
    return {"text": text, "metadata": {"title": title}}


def _row(record_id: str, query: str, sources: list[dict[str, Any]], meta: dict[str, Any], *,
         answer: str | None, aliases: list[str], supporting_ids: list[int],
         answerable: bool, language: str = "en") -> dict[str, Any]:
    return {"id": record_id, "query": query, "sources": sources, "language": language,
            "answer": answer if answerable else None,
            "answer_aliases": aliases if answerable else [],
            "supporting_ids": sorted(set(supporting_ids)) if answerable else [],
            "answerable": answerable, "meta": meta}


def _dataset_row(record: Mapping[str, Any], layout: str, sources: list[dict[str, Any]],
                 meta: dict[str, Any], supporting_ids: list[int], answerable: bool) -> dict[str, Any]:
    """The row of a multi-hop QA record: question, answer and aliases read from the record."""
    answer = record.get("answer")
    return _row(meta["id"], str(_required(record, "question", layout)), sources, meta,
                answer=str(answer) if answer is not None else None,
                aliases=[str(a) for a in record.get("answer_aliases") or []],
                supporting_ids=supporting_ids, answerable=answerable)


def _required(record: Mapping[str, Any], key: str, layout: str) -> Any:
    if key not in record:
        raise RecordError(f"{layout} record: missing key {key!r}")
    return record[key]


def _hf_pairs(value: Any, keys: tuple[str, str], layout: str) -> list[list[Any]]:
    """Turn the Hub's column layout ``{"title": [...], "sentences": [...]}`` into pairs."""
    if isinstance(value, str):
        value = json.loads(value)
    if isinstance(value, Mapping):
        first, second = (value.get(keys[0]), value.get(keys[1]))
        if not isinstance(first, list) or not isinstance(second, list) or len(first) != len(second):
            raise RecordError(f"{layout} record: {keys} must be lists of the same length")
        return [[a, b] for a, b in zip(first, second)]
    if not isinstance(value, list):
        raise RecordError(f"{layout} record: expected a list or a {{{keys[0]}, {keys[1]}}} mapping")
    return value


def hotpotqa_row(record: Mapping[str, Any], dataset: str = "hotpotqa") -> dict[str, Any]:
    """Convert one HotpotQA or 2WikiMultiHopQA record (original or Hub layout) to a RAG example.

    >>> row = hotpotqa_row({"_id": "x", "question": "Q?", "answer": "A", "type": "bridge",
    ...     "level": "easy", "supporting_facts": [["T2", 0]],
    ...     "context": [["T1", ["One.", " Two."]], ["T2", ["Three."]]]})
    >>> row["sources"][0]["text"], row["supporting_ids"], row["meta"]["supporting_sentences"]
    ('One. Two.', [2], [[2, 'Three.']])
    >>> hub = hotpotqa_row({"id": "y", "question": "Q?", "answer": "A", "type": "bridge",
    ...     "level": "easy", "supporting_facts": {"title": ["T1"], "sent_id": [1]},
    ...     "context": {"title": ["T1"], "sentences": [["One.", " Two."]]}})
    >>> hub["id"], hub["meta"]["supporting_sentences"]
    ('y', [[1, 'Two.']])
    """
    layout = dataset
    context = _hf_pairs(_required(record, "context", layout), ("title", "sentences"), layout)
    facts = _hf_pairs(record.get("supporting_facts") or [], ("title", "sent_id"), layout)
    titles = [str(title) for title, _ in context]
    sentences = {str(title): [str(s) for s in sents] for title, sents in context}
    record_id = str(record.get("_id") or record.get("id") or "")
    meta = empty_meta(dataset, record_id)
    meta["type"] = str(record.get("type") or "")
    meta["level"] = str(record.get("level") or "")
    supporting_ids: list[int] = []
    for title, index in facts:
        title = str(title)
        if title not in sentences or not isinstance(index, int) or not 0 <= index < len(sentences[title]):
            continue
        source_id = titles.index(title) + 1
        supporting_ids.append(source_id)
        sentence = [source_id, sentences[title][index].strip()]
        if sentence[1] and sentence not in meta["supporting_sentences"]:
            meta["supporting_sentences"].append(sentence)
    sources = [_source("".join(sentences[t]).strip(), t) for t in titles]
    return _dataset_row(record, layout, sources, meta, supporting_ids, answerable=True)


def twowiki_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """Convert one 2WikiMultiHopQA record (same layouts as HotpotQA) to a RAG example.

    >>> row = twowiki_row({"_id": "w", "type": "comparison", "question": "Older?",
    ...     "answer": "Ann", "evidences": [["Ann", "born", "1900"]],
    ...     "supporting_facts": [["Ann", 0]], "context": [["Ann", ["Ann was born in 1900."]]]})
    >>> row["meta"]["dataset"], row["meta"]["type"], row["supporting_ids"]
    ('2wiki', 'comparison', [1])
    """
    return hotpotqa_row(record, dataset="2wiki")


def _evidence_sentence(paragraph: str, answer: str) -> str:
    """The sentence of a supporting paragraph that states a hop's answer (else the first)."""
    sentences = quotable_pieces(paragraph, answer)
    needle = answer.strip().lower()
    for sentence in sentences:
        if needle and needle in sentence.lower():
            return sentence
    return sentences[0] if sentences else ""


def musique_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """Convert one MuSiQue record (answerable or not) to a RAG example.

    The supporting sentence of each hop is the sentence of its supporting paragraph that
    contains the hop's answer (the first sentence when none does). Unanswerable records get
    ``answerable: False`` and no gold answer.

    >>> row = musique_row({"id": "2hop__1", "question": "Who?", "answer": "Hall",
    ...     "answer_aliases": ["G. Hall"], "answerable": True,
    ...     "paragraphs": [{"idx": 0, "title": "X", "paragraph_text": "Noise.", "is_supporting": False},
    ...                    {"idx": 1, "title": "Y", "paragraph_text": "Intro. Hall led it.", "is_supporting": True}],
    ...     "question_decomposition": [{"answer": "Hall", "paragraph_support_idx": 1}]})
    >>> row["supporting_ids"], row["meta"]["supporting_sentences"], row["meta"]["type"]
    ([2], [[2, 'Hall led it.']], '2hop')
    """
    layout = "musique"
    paragraphs = _required(record, "paragraphs", layout)
    if not isinstance(paragraphs, list) or not all(isinstance(p, Mapping) for p in paragraphs):
        raise RecordError("musique record: paragraphs must be a list of objects")
    record_id = str(record.get("id") or "")
    answerable = record.get("answerable", True) is not False
    meta = empty_meta("musique", record_id)
    meta["type"] = record_id.split("__")[0] if "__" in record_id else ""
    position = {p.get("idx", i): i + 1 for i, p in enumerate(paragraphs)}
    sources = [_source(str(_required(p, "paragraph_text", layout)).strip(), str(p.get("title") or ""))
               for p in paragraphs]
    supporting_ids = [i + 1 for i, p in enumerate(paragraphs) if p.get("is_supporting")]
    for step in record.get("question_decomposition") or []:
        source_id = position.get(step.get("paragraph_support_idx"))
        if source_id is None or not answerable:
            continue
        sentence = _evidence_sentence(sources[source_id - 1]["text"], str(step.get("answer") or ""))
        if sentence and [source_id, sentence] not in meta["supporting_sentences"]:
            meta["supporting_sentences"].append([source_id, sentence])
    return _dataset_row(record, layout, sources, meta, supporting_ids, answerable)


def rag_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """Normalise a row in the contracts schema to the reader row shape.

    String sources become ``{"text", "metadata": {"title": ""}}``; ``prompt`` and
    ``completion`` are dropped (the builder rebuilds prompts after its exercises); a missing
    ``language`` is detected from the query; other unknown keys pass through.

    >>> row = rag_row({"query": "Who founded Rome?", "sources": ["Romulus founded Rome."],
    ...                "answer": ["Romulus", "Romolo"], "supporting_ids": [1], "lang_note": 1})
    >>> row["sources"], row["answer"], row["answer_aliases"], row["language"], row["lang_note"]
    ([{'text': 'Romulus founded Rome.', 'metadata': {'title': ''}}], 'Romulus', ['Romolo'], 'en', 1)
    """
    try:
        valid = validate_row(dict(record))
    except RowError as error:
        raise RecordError(f"rag-jsonl record: field {error.field}: {str(error).split(': ', 2)[-1]}") from None
    record_id = str(valid.get("id") or "")
    meta = empty_meta("rag-jsonl", record_id)
    given_meta = valid.get("meta") if isinstance(valid.get("meta"), Mapping) else {}
    meta["type"] = str(given_meta.get("type") or "")
    meta["supporting_sentences"] = [list(pair) for pair in given_meta.get("supporting_sentences") or []]
    titles = [s.get("metadata", {}).get("title", "") if isinstance(s, Mapping) else ""
              for s in valid["sources"]]
    sources = [_source(text, str(title or "")) for text, title in zip(source_texts(valid["sources"]), titles)]
    answers = gold_answers(valid)
    answerable = valid.get("answerable", True) is not False
    row = _row(record_id, valid["query"], sources, meta, answer=answers[0] if answers else None,
               aliases=answers[1:], supporting_ids=list(valid.get("supporting_ids") or []),
               answerable=answerable, language=valid.get("language") or query_language(valid["query"]))
    extra = {k: v for k, v in valid.items()
             if k not in row and k not in ("prompt", "completion", "answer_aliases")}
    return {**row, **extra}


def query_language(query: str) -> str:
    """ISO 639-1 code of a query (:func:`pleias_rl.data.language.detect_language`), ``"en"`` when unsure.

    >>> query_language("Quelle est la capitale de la France ?")
    'fr'
    """
    from pleias_rl.data.language import detect_language

    return detect_language(query)[0] or "en"


def read_hotpotqa(records: Iterable[Mapping[str, Any]], titles: bool = True) -> Iterator[dict[str, Any]]:
    """Yield RAG examples from HotpotQA records in the original layout (sources ``Title: text``
    unless ``titles`` is false).

    >>> raw = json.loads((Path(__file__).parent / "samples/raw/hotpotqa_train_sample100.json").read_text())
    >>> row = next(read_hotpotqa(raw))
    >>> row["query"], row["sources"][0]["text"][:30]
    ('If Gallu is a demon Lilu is what?', 'Demon Dice: Demon Dice, origin')
    """
    for record in records:
        yield convert_record(record, "hotpotqa", titles)


CONVERTERS: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "hotpotqa": hotpotqa_row, "2wiki": twowiki_row, "musique": musique_row, "rag-jsonl": rag_row,
}
"""The converter of each dataset name."""

_TWOWIKI_TYPES = frozenset({"compositional", "inference", "bridge_comparison"})


def detect_layout(record: object) -> str:
    """The dataset a record comes from, judged by its keys (raises :class:`RecordError`).

    >>> detect_layout({"paragraphs": [], "question": "?"}), detect_layout({"query": "?", "sources": []})
    ('musique', 'rag-jsonl')
    >>> detect_layout({"context": [], "question": "?", "evidences": []})
    '2wiki'
    """
    if not isinstance(record, Mapping):
        raise RecordError(f"expected a JSON object, got {type(record).__name__}")
    if "paragraphs" in record:
        return "musique"
    if "context" in record and "question" in record:
        two_wiki = "evidences" in record or record.get("type") in _TWOWIKI_TYPES
        return "2wiki" if two_wiki else "hotpotqa"
    if "query" in record and "sources" in record:
        return "rag-jsonl"
    raise UnsupportedLayout(record.keys())


def convert_record(record: object, dataset: str = "auto", titles: bool = True) -> dict[str, Any]:
    """Convert a record of ``dataset`` (or of its detected layout with ``"auto"``) to a row.

    A record whose layout contradicts ``dataset`` raises :class:`RecordError`; HotpotQA and
    2Wiki share a layout, so ``dataset`` names which one it is. With ``titles``, the sources
    of HotpotQA, 2Wiki and MuSiQue read ``Title: paragraph`` (:func:`with_titles`).

    >>> convert_record({"query": "Who?", "sources": ["Ann."]})["sources"][0]["text"]
    'Ann.'
    >>> record = {"question": "Q?", "answer": "A", "context": [["Helsby", ["Helsby is a village."]]],
    ...           "supporting_facts": [["Helsby", 0]]}
    >>> convert_record(record)["sources"][0]["text"], convert_record(record, titles=False)["sources"][0]["text"]
    ('Helsby: Helsby is a village.', 'Helsby is a village.')
    >>> try:
    ...     convert_record({"query": "Who?", "sources": ["Ann."]}, "musique")
    ... except RecordError as error:
    ...     print(error)
    record has the rag-jsonl layout, not musique
    """
    layout = detect_layout(record)
    if dataset == "auto":
        dataset = layout
    family = {"2wiki": "hotpotqa"}
    if family.get(layout, layout) != family.get(dataset, dataset):
        raise RecordError(f"record has the {layout} layout, not {dataset}")
    try:
        row = CONVERTERS[dataset](record)  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        if isinstance(error, RecordError):
            raise
        raise RecordError(f"{dataset} record: {type(error).__name__}: {error}") from None
    return with_titles(row) if titles and dataset in TITLED_DATASETS else row


TITLED_DATASETS: frozenset[str] = frozenset({"hotpotqa", "2wiki", "musique"})
"""Datasets whose sources are Wikipedia paragraphs with an article title."""


def with_titles(row: dict[str, Any]) -> dict[str, Any]:
    """The row with every source that has a title rendered ``Title: text``.

    >>> with_titles({"sources": [{"text": "A b.", "metadata": {"title": "T"}},
    ...                          {"text": "C.", "metadata": {"title": ""}}]})["sources"]
    [{'text': 'T: A b.', 'metadata': {'title': 'T'}}, {'text': 'C.', 'metadata': {'title': ''}}]
    """
    sources = [{**source, "text": f"{title}: {source['text']}"} if (title := source["metadata"]["title"])
               else source for source in row["sources"]]
    return {**row, "sources": sources}


def iter_records(path: str | Path) -> Iterator[tuple[int, Any]]:
    """Stream ``(line_number, record)`` from a JSON array or JSON Lines file.

    The layout is detected from the first non-blank byte (``[`` means a JSON array). A line
    (or array element) that cannot be read yields a :class:`BadLine` naming the file and line
    (:mod:`pleias_rl.data.jsonl`: invalid UTF-8, invalid JSON, deep nesting, huge integers,
    lone surrogates); in a JSON array, reading stops after an element that is not valid JSON.

    >>> import tempfile, os
    >>> f = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    >>> _ = f.write('[{"a": 1},\\n {"a": 2}]'); f.close()
    >>> list(iter_records(f.name))
    [(1, {'a': 1}), (2, {'a': 2})]
    >>> os.unlink(f.name)
    """
    with open(path, "rb") as handle:
        first = b""
        while not first:
            byte = handle.read(1)
            if not byte or not byte.isspace():
                first = byte or b"]"
    if first != b"[":
        yield from read_values(path)
        return
    # Invalid UTF-8 becomes lone surrogates (surrogateescape), reported per element.
    with open(path, encoding="utf-8", errors="surrogateescape") as handle:
        yield from _iter_json_array(str(path), handle)


class _ChunkedText:
    """A window on a text file read in chunks, with a cursor and its line number."""

    def __init__(self, handle: Any) -> None:
        self.handle, self.text, self.pos, self.line, self.eof = handle, "", 0, 1, False

    def more(self) -> bool:
        """Drop what the cursor passed and read the next chunk; False at end of file."""
        if self.eof:
            return False
        chunk = self.handle.read(max(_CHUNK_CHARS, len(self.text) - self.pos))
        self.text, self.pos, self.eof = self.text[self.pos:] + chunk, 0, not chunk
        return bool(chunk)

    def skip(self, chars: str) -> str:
        """Move past any of ``chars``; return the next character (``""`` at end of file)."""
        while True:
            while self.pos < len(self.text) and self.text[self.pos] in chars:
                self.line += self.text[self.pos] == "\n"
                self.pos += 1
            if self.pos < len(self.text):
                return self.text[self.pos]
            if not self.more():
                return ""


def _iter_json_array(path: str, handle: Any) -> Iterator[tuple[int, Any]]:
    """Decode a JSON array element by element, holding about one element in memory.

    A malformed element makes the reader look for its end until the end of the file, so
    memory then grows with the rest of the file; the error is reported with its line.
    """
    decoder = json.JSONDecoder()
    stream = _ChunkedText(handle)
    stream.skip(" \t\r\n")
    stream.pos += 1  # the opening bracket
    while True:
        char = stream.skip(" \t\r\n,")
        if char in ("", "]"):
            return
        try:
            value, end = decoder.raw_decode(stream.text, stream.pos)
        except json.JSONDecodeError as error:
            if stream.more():
                continue
            where = stream.line + stream.text.count("\n", stream.pos, error.pos)
            yield stream.line, BadLine(path, where, f"not valid JSON ({error.msg})")
            return
        except (ValueError, RecursionError) as error:  # deep nesting or a huge integer
            yield stream.line, BadLine(path, stream.line, decode_problem(error))
            return
        if end == len(stream.text) and stream.more():
            continue
        line = stream.line
        stream.line += stream.text.count("\n", stream.pos, end)
        stream.pos = end
        yield line, surrogate_problem(value, path, line, escaped_bytes=True) or value
