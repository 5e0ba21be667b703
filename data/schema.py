"""The RAG example schema (contracts.md §1): validation, field access and JSON Lines I/O.

Light on purpose: imported by the rewards and the ``score`` command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from pleias_rl.data.format import build_prompt, strip_prompt
# BadLine and write_jsonl_line are also imported from here; their home is pleias_rl.data.jsonl.
from pleias_rl.data.jsonl import BadLine, read_objects, write_jsonl_line  # noqa: F401

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
        self.problem = problem
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


def read_jsonl(path: str | Path, validate: bool = True) -> Iterator[tuple[int, dict[str, Any] | BadLine]]:
    """Stream ``(line_number, row)`` from a JSON Lines file; a bad line yields a :class:`BadLine`.

    Lines are read by :func:`pleias_rl.data.jsonl.read_objects` (bytes decoded line by line:
    invalid UTF-8, lone surrogates, deep nesting and huge integers are bad lines, never a
    crash). Blank lines are skipped. With ``validate``, rows are checked by :func:`validate_row`.

    >>> import tempfile, os
    >>> f = tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False)
    >>> _ = f.write('{"query": "q", "sources": ["s"]}\\n{oops\\n{"query": "q", "sources": 1}\\n'); f.close()
    >>> [getattr(r, "problem", "ok") for _, r in read_jsonl(f.name)]
    ['ok', 'not valid JSON (Expecting property name enclosed in double quotes at column 2)', 'must be a list of strings or objects with text']
    >>> os.unlink(f.name)
    """
    for number, row in read_objects(path):
        yield number, (_validated(str(path), number, row) if validate and isinstance(row, dict) else row)


def _validated(path: str, number: int, row: dict[str, Any]) -> dict[str, Any] | BadLine:
    try:
        return validate_row(row, where=f"{path}:{number}")
    except RowError as error:
        return BadLine(path, number, error.problem, field=error.field)
