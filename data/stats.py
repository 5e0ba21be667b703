"""Summary figures of a RAG JSON Lines file (``pleias-rl data stats FILE``)."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

from pleias_rl.data.budget import TokenCounter, estimate_tokens
from pleias_rl.data.format import build_prompt
from pleias_rl.data.schema import BadLine, read_jsonl, source_texts

PERCENTILES: tuple[int, ...] = (50, 90, 99, 100)
"""Percentiles of prompt tokens reported (100 is the maximum)."""


def percentile(values: list[int], share: int) -> int:
    """The nearest-rank percentile of sorted ``values`` (0 for an empty list).

    >>> percentile([1, 2, 3, 4], 50), percentile([1, 2, 3, 4], 100), percentile([], 90)
    (2, 4, 0)
    """
    if not values:
        return 0
    rank = max(1, math.ceil(share / 100 * len(values)))
    return values[rank - 1]


def dataset_stats(path: str | Path, count: TokenCounter = estimate_tokens,
                  problems: list[str] | None = None) -> dict[str, Any]:
    """Counts of a RAG JSONL file: rows, sources per row, answerable share, languages,
    datasets, exercises and prompt-token percentiles. Bad lines are counted, not used, and
    each is appended to ``problems`` as ``FILE:LINE: problem``.

    >>> import tempfile, os
    >>> f = tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False)
    >>> _ = f.write('{"query": "Who?", "sources": ["Ann.", "Bob."], "answerable": false}\\nbad\\n'); f.close()
    >>> problems = []; stats = dataset_stats(f.name, problems=problems); os.unlink(f.name)
    >>> stats["rows"], stats["bad_lines"], stats["sources_per_row"]["mean"], stats["answerable_share"]
    (1, 1, 2.0, 0.0)
    >>> problems[0].endswith(":2: not valid JSON (Expecting value at column 1)")
    True
    """
    sources: list[int] = []
    tokens: list[int] = []
    answerable = 0
    languages: Counter[str] = Counter()
    datasets: Counter[str] = Counter()
    exercises: Counter[str] = Counter()
    bad = 0
    for number, row in read_jsonl(path, validate=False):
        if not isinstance(row, BadLine) and not isinstance(row.get("sources"), list):
            row = BadLine(str(path), number, "must be a list of sources", field="sources")
        if isinstance(row, BadLine):
            bad += 1
            if problems is not None:
                problems.append(str(row))
            continue
        texts = source_texts(row["sources"])
        sources.append(len(texts))
        prompt = row.get("prompt") if isinstance(row.get("prompt"), str) else build_prompt(
            str(row.get("query") or ""), texts)
        tokens.append(count(prompt))
        answerable += row.get("answerable") is not False
        languages[str(row.get("language") or "?")] += 1
        meta = row.get("meta") if isinstance(row.get("meta"), dict) else {}
        datasets[str(meta.get("dataset") or "?")] += 1
        exercises.update(str(name) for name in meta.get("exercises") or [])
    tokens.sort()
    rows = len(sources)
    return {
        "rows": rows, "bad_lines": bad,
        "sources_per_row": {"mean": round(sum(sources) / rows, 2) if rows else 0.0,
                            "min": min(sources, default=0), "max": max(sources, default=0)},
        "answerable_share": round(answerable / rows, 4) if rows else 0.0,
        "languages": dict(languages.most_common()), "datasets": dict(datasets.most_common()),
        "exercises": dict(exercises.most_common()),
        "prompt_tokens": {f"p{share}": percentile(tokens, share) for share in PERCENTILES},
    }


def format_stats(stats: dict[str, Any]) -> str:
    """Render :func:`dataset_stats` as a few readable lines.

    >>> print(format_stats({"rows": 2, "bad_lines": 0, "sources_per_row": {"mean": 3.0, "min": 2, "max": 4},
    ...     "answerable_share": 0.5, "languages": {"en": 2}, "datasets": {"hotpotqa": 2},
    ...     "exercises": {}, "prompt_tokens": {"p50": 10, "p100": 20}}))
    rows               2 (0 bad lines)
    sources per row    mean 3.0, min 2, max 4
    answerable share   0.5
    languages          en 2
    datasets           hotpotqa 2
    exercises          -
    prompt tokens      p50 10, p100 20
    """
    def pairs(mapping: dict[str, Any]) -> str:
        return ", ".join(f"{key} {value}" for key, value in mapping.items()) or "-"

    per_row = stats["sources_per_row"]
    lines = [
        ("rows", f"{stats['rows']} ({stats['bad_lines']} bad lines)"),
        ("sources per row", f"mean {per_row['mean']}, min {per_row['min']}, max {per_row['max']}"),
        ("answerable share", str(stats["answerable_share"])),
        ("languages", pairs(stats["languages"])), ("datasets", pairs(stats["datasets"])),
        ("exercises", pairs(stats["exercises"])), ("prompt tokens", pairs(stats["prompt_tokens"])),
    ]
    return "\n".join(f"{name:<18} {value}" for name, value in lines)
