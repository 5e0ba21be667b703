"""Fit prompts into a token budget without ever cutting a supporting sentence.

Trainers never truncate our prompts (a cut prompt loses ``<|language_start|>`` and the model
keeps writing sources), so the builder makes every prompt fit: first each source is capped
(optional ``max_source_tokens``), then non-supporting sources are dropped (longest first,
keeping at least one source), then sentences that support nothing are removed from the end of
the longest sources. A row that still does not fit raises :class:`BudgetError`.

Tokens are counted with the model's tokenizer when one is given (:func:`tokenizer_counter`),
else with :func:`estimate_tokens`: one token per 4 characters, rounded up. Measured on the
shipped prompts against SmolLM2's tokenizer with the Pleias special tokens added, the real
count is 0.92 of the estimate on average, between 0.72 and 1.19 of it per prompt (text full of
numbers and names runs over), so a 600-token estimated budget gives real prompts of at most
about 700 tokens; pass a tokenizer (``--tokenizer``) for an exact budget or another language.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from pleias_rl.data.exercises import reorder_sources
from pleias_rl.data.format import SPECIAL_TOKENS, build_prompt
from pleias_rl.data.readers import sentence_segments
from pleias_rl.data.schema import source_texts

TokenCounter = Callable[[str], int]
"""``count(text) -> number of tokens``."""

CONTEXT_TOKENS = 4096
"""Context window of the Pleias-RAG models."""

COMPLETION_TOKENS = 1024
"""Default completion budget reserved out of the context window."""

DEFAULT_PROMPT_TOKENS = CONTEXT_TOKENS - COMPLETION_TOKENS
"""Default prompt budget: the context window minus the completion budget (3072)."""


class BudgetError(ValueError):
    """A row that cannot fit the budget without cutting a supporting sentence.

    >>> str(BudgetError("row x: 900 tokens left, budget 600"))
    'row x: 900 tokens left, budget 600'
    """


def estimate_tokens(text: str) -> int:
    """Estimated token count: one token per 4 characters, rounded up.

    >>> estimate_tokens("Helsby is a village."), estimate_tokens("")
    (5, 0)
    """
    return math.ceil(len(text) / 4)


def tokenizer_counter(tokenizer: Any) -> TokenCounter:
    """A counter using a Hugging Face tokenizer (no BOS/EOS added).

    >>> class Words:
    ...     def __call__(self, text, add_special_tokens=False): return {"input_ids": text.split()}
    >>> tokenizer_counter(Words())("three little words")
    3
    """
    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    return count


def load_token_counter(name_or_path: str | None) -> TokenCounter:
    """The counter for a local tokenizer (a directory or a ``.gguf`` file); the estimate for ``None``.

    The Pleias special tokens are added when the tokenizer lacks them (each then counts as
    one token, as in the model being trained).

    >>> load_token_counter(None) is estimate_tokens
    True
    """
    if not name_or_path:
        return estimate_tokens
    from pathlib import Path

    from transformers import AutoTokenizer

    path = Path(name_or_path)
    if path.suffix == ".gguf":
        tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    else:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    missing = [token for token in SPECIAL_TOKENS if token not in tokenizer.get_vocab()]
    if missing:
        tokenizer.add_special_tokens({"additional_special_tokens": missing})
    return tokenizer_counter(tokenizer)


def prompt_tokens(row: dict[str, Any], count: TokenCounter = estimate_tokens) -> int:
    """Tokens of the prompt built from a row's query and sources.

    >>> prompt_tokens({"query": "Who?", "sources": [{"text": "Ann did."}]})
    27
    """
    return count(build_prompt(row["query"], source_texts(row["sources"])))


def _supporting(row: dict[str, Any], source_id: int) -> list[str]:
    return [text for i, text in row["meta"]["supporting_sentences"] if i == source_id]


def trim_source_text(text: str, keep: list[str], max_tokens: int,
                     count: TokenCounter = estimate_tokens) -> str:
    """Shorten ``text`` to about ``max_tokens`` by removing sentences from the end, never one
    of ``keep`` (the result may stay longer when the kept sentences need it) nor the first.

    >>> trim_source_text("One two. Three four. Gold five. Six seven.", ["Gold five."], 5)
    'One two. Gold five.'
    """
    segments = sentence_segments(text, keep)
    removable = [i for i, (_, kept) in enumerate(segments) if not kept and i > 0]
    while removable and count("".join(s for s, _ in segments).strip()) > max_tokens:
        segments.pop(removable.pop())
    return "".join(s for s, _ in segments).strip()


def _with_text(row: dict[str, Any], source_id: int, text: str) -> dict[str, Any]:
    out = dict(row)
    out["sources"] = list(row["sources"])
    out["sources"][source_id - 1] = {**row["sources"][source_id - 1], "text": text}
    return out


def cap_sources(row: dict[str, Any], max_source_tokens: int,
                count: TokenCounter = estimate_tokens) -> dict[str, Any]:
    """Trim every source to ``max_source_tokens`` (supporting sentences kept).

    >>> row = {"sources": [{"text": "A b. C d. E f."}], "meta": {"supporting_sentences": [[1, "E f."]]}}
    >>> cap_sources(row, 2)["sources"][0]["text"]
    'A b. E f.'
    """
    for source_id, text in enumerate(source_texts(row["sources"]), start=1):
        if count(text) > max_source_tokens:
            row = _with_text(row, source_id, trim_source_text(
                text, _supporting(row, source_id), max_source_tokens, count))
    return row


def fit_to_budget(row: dict[str, Any], max_prompt_tokens: int = DEFAULT_PROMPT_TOKENS,
                  count: TokenCounter = estimate_tokens,
                  max_source_tokens: int | None = None) -> dict[str, Any]:
    """Return ``row`` with a prompt of at most ``max_prompt_tokens`` tokens.

    Records ``"budget"`` in ``meta["exercises"]`` when anything was dropped or trimmed.
    Raises :class:`BudgetError` when only supporting sentences would be left to cut.

    >>> row = {"id": "x", "query": "Who?", "supporting_ids": [2],
    ...        "sources": [{"text": "Noise. " * 40}, {"text": "Ann did it. Later more."}],
    ...        "meta": {"supporting_sentences": [[2, "Ann did it."]], "exercises": [],
    ...                 "translation": {"language": "", "query": False, "source_ids": []}}}
    >>> out = fit_to_budget(row, 35)
    >>> [s["text"] for s in out["sources"]], out["supporting_ids"], out["meta"]["supporting_sentences"]
    (['Ann did it. Later more.'], [1], [[1, 'Ann did it.']])
    """
    original = row
    if max_source_tokens is not None:
        row = cap_sources(row, max_source_tokens, count)
    while prompt_tokens(row, count) > max_prompt_tokens:
        texts = source_texts(row["sources"])
        droppable = [i for i in range(1, len(texts) + 1) if i not in row["supporting_ids"]
                     and not _supporting(row, i)]
        if droppable and len(texts) > 1:
            longest = max(droppable, key=lambda i: count(texts[i - 1]))
            row = reorder_sources(row, [i for i in range(1, len(texts) + 1) if i != longest])
            continue
        row = _trim_longest(row, texts, count)
        if row is None:
            raise BudgetError(f"row {original.get('id')!r}: {prompt_tokens(original, count)} prompt "
                              f"tokens cannot fit {max_prompt_tokens} without cutting a supporting sentence")
    if row is not original:
        row = reorder_sources(row, list(range(1, len(row["sources"]) + 1)))
        row["meta"]["exercises"].append("budget")
    return row


def _trim_longest(row: dict[str, Any], texts: list[str], count: TokenCounter) -> dict[str, Any] | None:
    """Remove one non-supporting sentence from the longest source that has one, or ``None``."""
    for source_id in sorted(range(1, len(texts) + 1), key=lambda i: -count(texts[i - 1])):
        segments = sentence_segments(texts[source_id - 1], _supporting(row, source_id))
        removable = [i for i, (_, kept) in enumerate(segments) if not kept]
        if removable and len(segments) > 1:
            segments.pop(removable[-1])
            return _with_text(row, source_id, "".join(s for s, _ in segments).strip())
    return None
