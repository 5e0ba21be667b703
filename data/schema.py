"""The RAG example schema (contracts.md §1): validation, field access and JSON Lines I/O.

Light on purpose: imported by the rewards and the ``score`` command.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from pleias_rl.data.format import build_prompt, strip_prompt

ISO_LANGUAGES: dict[str, str] = {
    "en": "English", "fr": "French", "de": "German", "it": "Italian", "es": "Spanish",
    "pl": "Polish", "pt": "Portuguese", "la": "Latin", "nl": "Dutch",
}
"""ISO 639-1 codes the toolkit knows, mapped to the English names the model writes."""


class RowError(ValueError):
    """A RAG example that breaks the schema; the message names the row and the field.

    >>> str(RowError("query", "must be a non-empty string", where="line 3"))
    'line 3: field query: must be a non-empty string'
    """

    def __init__(self, field_name: str, problem: str, where: str = "row") -> None:
        self.field = field_name
        self.where = where
        super().__init__(f"{where}: field {field_name}: {problem}")


def source_text(source: object) -> str:
    """The text of one source: a string, or a mapping with ``text``; anything else is ``''``.

    >>> source_text({"text": "abc", "metadata": {}}), source_text("xyz"), source_text(None)
    ('abc', 'xyz', '')
    """
    if isinstance(source, str):
        return source
    if isinstance(source, (dict, Mapping)):  # dict first: typing.Mapping checks are slow
        text = source.get("text")
        return text if isinstance(text, str) else ""
    return ""


def source_texts(sources: object) -> list[str]:
    """Texts of a ``sources`` value, numbered from 1 by position; tolerant of junk.

    >>> source_texts(["a", {"text": "b"}]), source_texts(None)
    (['a', 'b'], [])
    """
    if not isinstance(sources, list) and (
            isinstance(sources, (str, bytes)) or not isinstance(sources, Sequence)):
        return []
    return [source_text(source) for source in sources]


def completion_text(completion: object) -> str:
    """The generated text of a completion: a string or TRL's conversational form.

    For a list of messages, the assistant contents are joined. A completion that still holds
    the prompt keeps it (the parser strips it). Never raises.

    >>> completion_text([{"role": "assistant", "content": "Hi"}]), completion_text(None)
    ('Hi', '')
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Mapping):
        content = completion.get("content")
        return content if isinstance(content, str) else ""
    if isinstance(completion, Sequence) and not isinstance(completion, (bytes, bytearray)):
        messages = [m for m in completion if isinstance(m, Mapping)]
        assistant = [m for m in messages if m.get("role") in (None, "assistant")]
        return "".join(completion_text(m) for m in assistant)
    return ""


def gold_answers(row: Mapping[str, Any]) -> list[str]:
    """The gold answer and its aliases as a list of non-empty strings (``[]`` when absent).

    >>> gold_answers({"answer": "Helsby", "answer_aliases": ["Helsby village"]})
    ['Helsby', 'Helsby village']
    >>> gold_answers({"answer": ["a", "", 3]})
    ['a']
    """
    values: list[object] = []
    for key in ("answer", "answer_aliases"):
        value = row.get(key)
        values.extend(value if isinstance(value, list) else [value])
    return [v.strip() for v in values if isinstance(v, str) and v.strip()]


def validate_row(row: object, where: str = "row") -> dict[str, Any]:
    """Check a RAG example against the schema and return it with ``prompt`` filled in.

    Raises :class:`RowError` naming the field. Unknown keys pass through untouched.

    >>> validate_row({"query": "Who?", "sources": ["Ann."]})["prompt"].startswith("<|query_start|>Who?")
    True
    >>> try:
    ...     validate_row({"query": "Who?", "sources": "Ann."}, where="line 7")
    ... except RowError as error:
    ...     print(error)
    line 7: field sources: must be a list of strings or objects with text
    """
    if not isinstance(row, dict):
        raise RowError("(row)", f"must be a JSON object, got {type(row).__name__}", where)
    query = row.get("query")
    if not isinstance(query, str) or not query.strip():
        raise RowError("query", "must be a non-empty string", where)
    sources = row.get("sources")
    if not isinstance(sources, list) or not all(_is_source(s) for s in sources):
        raise RowError("sources", "must be a list of strings or objects with text", where)
    _check_optional(row, where)
    out = dict(row)
    if not isinstance(out.get("prompt"), str):
        out["prompt"] = build_prompt(query, source_texts(sources))
    return out


def _is_source(source: object) -> bool:
    return isinstance(source, str) or (
        isinstance(source, Mapping) and isinstance(source.get("text"), str))


def _check_optional(row: Mapping[str, Any], where: str) -> None:
    language = row.get("language")
    if language is not None and not isinstance(language, str):
        raise RowError("language", "must be an ISO 639-1 code string", where)
    answer = row.get("answer")
    if answer is not None and not isinstance(answer, (str, list)):
        raise RowError("answer", "must be a string or a list of strings", where)
    ids = row.get("supporting_ids")
    if ids is not None and not (isinstance(ids, list) and all(
            isinstance(i, int) and not isinstance(i, bool) for i in ids)):
        raise RowError("supporting_ids", "must be a list of 1-based integers", where)
    answerable = row.get("answerable")
    if answerable is not None and not isinstance(answerable, bool):
        raise RowError("answerable", "must be true or false", where)
    completion = row.get("completion")
    if completion is not None and not isinstance(completion, (str, list)):
        raise RowError("completion", "must be a string or a list of messages", where)


def row_completion(row: Mapping[str, Any]) -> str:
    """The completion of a row as text after the prompt (prompt or language start removed).

    >>> row_completion({"completion": "<|language_start|>\\nEnglish<|language_end|>"})
    'English<|language_end|>'
    """
    return strip_prompt(completion_text(row.get("completion")))[0]


@dataclass(frozen=True)
class BadLine:
    """A line of a JSON Lines file that could not be read, with the reason.

    >>> str(BadLine("in.jsonl", 4, "not JSON"))
    'in.jsonl:4: not JSON'
    """

    path: str
    line: int
    problem: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.problem}"


def read_jsonl(path: str | Path, validate: bool = True) -> Iterator[tuple[int, dict[str, Any] | BadLine]]:
    """Stream ``(line_number, row)`` from a JSON Lines file; a bad line yields a :class:`BadLine`.

    Blank lines are skipped. With ``validate``, rows are checked by :func:`validate_row`.

    >>> import tempfile, os
    >>> f = tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False)
    >>> _ = f.write('{"query": "q", "sources": ["s"]}\\n{oops\\n'); f.close()
    >>> [type(r).__name__ for _, r in read_jsonl(f.name)]
    ['dict', 'BadLine']
    >>> os.unlink(f.name)
    """
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            yield number, _read_line(str(path), number, line, validate)


def _read_line(path: str, number: int, line: str, validate: bool) -> dict[str, Any] | BadLine:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as error:
        return BadLine(path, number, f"not valid JSON ({error.msg} at column {error.colno})")
    if not validate:
        return row if isinstance(row, dict) else BadLine(path, number, "not a JSON object")
    try:
        return validate_row(row, where=f"{path}:{number}")
    except RowError as error:
        return BadLine(path, number, f"field {error.field}: {str(error).split(': ', 2)[-1]}")


def write_jsonl_line(handle: Any, row: Mapping[str, Any]) -> None:
    """Write one row as a JSON line (UTF-8 kept readable, no ASCII escaping).

    >>> import io; buffer = io.StringIO(); write_jsonl_line(buffer, {"a": "é"}); buffer.getvalue()
    '{"a": "é"}\\n'
    """
    handle.write(json.dumps(row, ensure_ascii=False) + "\n")
