"""Training datasets for the GRPO and SFT scripts: JSONL files, critic-loop directories, hub sets.

GRPO rows keep the columns the rewards read (``prompt`` built with the Pleias builder, ``query``,
``sources`` as texts, ``language``, ``answer`` as a list of aliases, ``supporting_ids``,
``answerable``, ``id``) plus any scalar extra column; nested per-row metadata is dropped because
Arrow needs one type per column. SFT rows are ``prompt``/``completion`` pairs.

A malformed line stops loading with an error naming the file and line: nothing is lost silently.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from pleias_rl.data.schema import (
    RowError,
    gold_answers,
    read_jsonl,
    row_completion,
    source_texts,
    validate_row,
)

if TYPE_CHECKING:
    from datasets import Dataset

CRITIC_SFT_FILE = "sft.jsonl"
"""File of verified corrected outputs inside a critic-loop output directory."""

_REWARD_COLUMNS = ("id", "prompt", "query", "language", "supporting_ids", "answerable")


def rl_example(row: Mapping[str, Any]) -> dict[str, Any]:
    """One validated RAG row as a GRPO example (Arrow-friendly columns).

    >>> example = rl_example({"query": "Who?", "sources": [{"text": "Ann."}], "answer": "Ann",
    ...                       "meta": {"x": 1}, "split": "dev"})
    >>> example["sources"], example["answer"], example["split"], "meta" in example
    (['Ann.'], ['Ann'], 'dev', False)
    """
    example = {key: row.get(key) for key in _REWARD_COLUMNS}
    example["sources"] = source_texts(row.get("sources"))
    example["answer"] = gold_answers(row) or None
    for key, value in row.items():
        if key not in example and key != "completion" and isinstance(value, (str, int, float, bool)):
            example[key] = value
    return example


def sft_example(row: Mapping[str, Any], where: str) -> dict[str, str]:
    """A ``prompt``/``completion`` pair from an SFT row or a RAG row with a completion.

    >>> sft_example({"id": "a", "prompt": "P", "completion": "C"}, "line 1")
    {'prompt': 'P', 'completion': 'C'}
    >>> sft_example({"query": "Who?", "sources": ["Ann."], "completion": "English<|language_end|>"},
    ...             "line 2")["prompt"].endswith("<|language_start|>\\n")
    True
    """
    if not isinstance(row.get("prompt"), str):
        row = validate_row(dict(row), where)
    completion = row_completion(row)
    if not completion.strip():
        raise RowError("completion", "must be a non-empty string", where)
    return {"prompt": row["prompt"], "completion": completion}


def read_rows(path: str | Path, validate: bool = True) -> Iterable[tuple[str, dict[str, Any]]]:
    """Rows of a JSONL file with their location; the first bad line raises ``ValueError``.

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "x.jsonl")
    >>> _ = open(path, "w").write('{"query": "Q?", "sources": ["S."]}\\nnot json\\n')
    >>> try:
    ...     list(read_rows(path))
    ... except ValueError as error:
    ...     print(str(error).endswith(":2: not valid JSON (Expecting value at column 1)"))
    True
    """
    for number, row in read_jsonl(path, validate=validate):
        if not isinstance(row, dict):
            raise ValueError(f"bad training row {row}")
        yield f"{path}:{number}", row


def sft_file(path: str | Path) -> Path:
    """The JSONL file to train on: ``path`` itself, or ``path/sft.jsonl`` for a critic-loop dir.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp()); _ = (d / "sft.jsonl").write_text("")
    >>> sft_file(d).name
    'sft.jsonl'
    """
    path = Path(path)
    if path.is_dir():
        path = path / CRITIC_SFT_FILE
    if not path.exists():
        raise FileNotFoundError(f"no SFT data at {path} (a JSONL file or a critic-loop output dir)")
    return path


def load_rl_dataset(name_or_path: str, split: str = "train", config: str | None = None,
                    max_samples: int | None = None) -> "Dataset":
    """A GRPO dataset from a contracts-schema JSONL file or a hub dataset (name + split).

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "x.jsonl")
    >>> _ = open(path, "w").write('{"query": "Q?", "sources": ["S."], "answer": "S"}\\n')
    >>> load_rl_dataset(path)[0]["prompt"].startswith("<|query_start|>Q?")
    True
    """
    from datasets import Dataset, load_dataset

    if Path(name_or_path).exists():
        examples = [rl_example(row) for _, row in _head(read_rows(name_or_path), max_samples)]
        if not examples:
            raise ValueError(f"{name_or_path}: no rows")
        return Dataset.from_list(examples)
    hub = load_dataset(name_or_path, config, split=split)
    if max_samples is not None:
        hub = hub.select(range(min(max_samples, len(hub))))
    return hub.map(lambda row, index: rl_example(validate_row(row, f"{name_or_path}[{index}]")),
                   with_indices=True, remove_columns=hub.column_names)


def load_sft_dataset(path: str | Path, max_samples: int | None = None) -> "Dataset":
    """An SFT prompt-completion dataset from a JSONL file or a critic-loop output directory.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "sft.jsonl").write_text('{"id": "a", "prompt": "P", "completion": "C"}\\n')
    >>> load_sft_dataset(d).column_names
    ['prompt', 'completion']
    """
    from datasets import Dataset

    source = sft_file(path)
    rows = _head(read_rows(source, validate=False), max_samples)
    examples = [sft_example(row, where) for where, row in rows]
    if not examples:
        raise ValueError(f"{source}: no rows")
    return Dataset.from_list(examples)


def _head(rows: Iterable[tuple[str, dict[str, Any]]], limit: int | None) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for item in rows:
        if limit is not None and len(out) >= limit:
            break
        out.append(item)
    return out
