"""Readers that turn multi-hop QA records into RAG examples (contracts.md schema).

Every reader yields rows with ``query``, ``sources`` (``{"text", "metadata": {"title"}}`` in the
dataset's order), ``answer`` (+ ``answer_aliases``), ``supporting_ids`` (1-based),
``answerable``, ``language`` and ``meta`` (dataset, id, type, and ``supporting_sentences``:
``[[source_id, sentence], ...]``, the gold evidence quoted by warm-start targets).
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping


def hotpotqa_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """Convert one HotpotQA record (original layout) to a RAG example.

    >>> row = hotpotqa_row({"_id": "x", "question": "Q?", "answer": "A", "type": "bridge",
    ...     "level": "easy", "supporting_facts": [["T2", 0]],
    ...     "context": [["T1", ["One.", " Two."]], ["T2", ["Three."]]]})
    >>> row["sources"][0]["text"], row["supporting_ids"], row["meta"]["supporting_sentences"]
    ('One. Two.', [2], [[2, 'Three.']])
    """
    titles = [title for title, _ in record["context"]]
    sentences = {title: list(sents) for title, sents in record["context"]}
    supporting_ids: list[int] = []
    evidence: list[list[Any]] = []
    for title, index in record.get("supporting_facts", []):
        if title not in sentences or not 0 <= index < len(sentences[title]):
            continue
        source_id = titles.index(title) + 1
        if source_id not in supporting_ids:
            supporting_ids.append(source_id)
        evidence.append([source_id, sentences[title][index].strip()])
    return {
        "id": record.get("_id") or record.get("id"),
        "query": record["question"],
        "sources": [{"text": "".join(sentences[t]).strip(), "metadata": {"title": t}} for t in titles],
        "language": "en",
        "answer": record.get("answer"),
        "supporting_ids": sorted(supporting_ids),
        "answerable": True,
        "meta": {"dataset": "hotpotqa", "id": record.get("_id") or record.get("id"),
                 "type": record.get("type"), "level": record.get("level"),
                 "supporting_sentences": evidence},
    }


def read_hotpotqa(records: list[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
    """Yield RAG examples from HotpotQA records in the original layout.

    >>> import json; from pathlib import Path
    >>> raw = json.loads((Path(__file__).parent / "samples/raw/hotpotqa_train_sample100.json").read_text())
    >>> next(read_hotpotqa(raw))["query"]
    'If Gallu is a demon Lilu is what?'
    """
    for record in records:
        yield hotpotqa_row(record)
