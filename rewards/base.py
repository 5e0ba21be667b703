"""The TRL-compatible reward base: one class, every reward a subclass with ``score_row``.

A reward is a picklable callable object with a ``__name__`` (TRL logs it under that name).
It is called the GRPOTrainer way: ``reward(completions=[...], prompts=[...], completion_ids=[...],
<dataset columns as lists>, log_extra=..., log_metric=..., trainer_state=...)`` and returns one
``float`` in [0, 1] or ``None`` (does not apply) per completion. It never raises on model output:
an unexpected internal error scores 0.0 and is reported in the diagnostics and logged once.

The decode trap: TRL decodes completions with ``skip_special_tokens=True``, which erases the
Pleias structure tokens. Give the reward the tokenizer (``tokenizer=``) and it re-decodes
``completion_ids`` with ``skip_special_tokens=False``.
"""

from __future__ import annotations

import logging
import math
import operator
from functools import lru_cache
from itertools import chain
from typing import Any, Callable, Mapping, NamedTuple, Sequence

from pleias_rl.data.format import ParsedCompletion, parse_completion
from pleias_rl.data.schema import completion_text

logger = logging.getLogger(__name__)

Score = float | None
"""One reward value: a float in [0, 1], or ``None`` where the reward does not apply."""


@lru_cache(maxsize=4096)
def parse_cached(text: str) -> ParsedCompletion:
    """:func:`pleias_rl.data.format.parse_completion` memoised: several rewards parse one completion.

    Treat the result as read-only.

    >>> parse_cached("English<|language_end|>") is parse_cached("English<|language_end|>")
    True
    """
    return parse_completion(text)


def clamp(value: object) -> float:
    """Clamp a score into [0, 1]; NaN, infinities and non-numbers become 0.0.

    >>> clamp(1.7), clamp(float("nan")), clamp(-2), clamp(0.25)
    (1.0, 0.0, 0.0, 0.25)
    """
    if type(value) is float and 0.0 < value <= 1.0:  # the usual case, already in range
        return value
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return 0.0
    return min(1.0, max(0.0, float(value)))


class Reward:
    """Base class of every reward. Subclasses set ``name`` and implement :meth:`score_row`.

    ``tokenizer`` (optional) re-decodes ``completion_ids`` keeping special tokens.

    >>> class Length(Reward):
    ...     name = "length"
    ...     def score_row(self, text, row):
    ...         return min(1.0, len(text) / 10), {"chars": len(text)}
    >>> Length()(completions=["12345", [{"role": "assistant", "content": "x" * 50}]])
    [0.5, 1.0]
    """

    name = "reward"

    def __init__(self, tokenizer: Any = None, **options: Any) -> None:
        self.tokenizer = tokenizer
        self.options = options
        self._warned = False

    @property
    def __name__(self) -> str:  # TRL names the logged column after the function
        return self.name

    def score_row(self, text: str, row: Mapping[str, Any]) -> tuple[Score, dict[str, Any]]:
        """Score one completion text against its row; return ``(score, diagnostics)``.

        ``diagnostics`` may hold ``"metrics"``: a dict of float sub-scores that the trainer
        logs as ``<name>/<metric>`` means.
        """
        raise NotImplementedError

    def explain(self, completion: object, row: Mapping[str, Any]) -> tuple[Score, dict[str, Any]]:
        """Score one completion (any accepted shape) safely; never raises on model output.

        >>> class Broken(Reward):
        ...     name = "broken"
        ...     def score_row(self, text, row):
        ...         raise KeyError("bug")
        >>> Broken().explain("x", {})
        (0.0, {'internal_error': "KeyError('bug')"})
        """
        text = completion_text(completion)
        try:
            score, diagnostics = self.score_row(text, row)
        except Exception as error:  # a reward must never kill a training run
            if not self._warned:
                logger.exception("reward %s failed on a completion; scoring it 0.0", self.name)
                self._warned = True
            return 0.0, {"internal_error": repr(error)}
        return (None if score is None else clamp(score)), diagnostics

    def __call__(self, completions: Sequence[object] | None = None, *,
                 completion_ids: Sequence[Sequence[int]] | None = None,
                 log_metric: Callable[[str, float], None] | None = None,
                 **columns: Any) -> list[Score]:
        """Score a batch the GRPOTrainer way; see the module docstring."""
        completions = list(completions or [])
        texts = self.decode(completions, completion_ids)
        rows = rows_from_columns(columns, len(texts))
        results = self.explain_batch(texts, rows)
        if log_metric is not None:
            for key, value in mean_metrics(diag for _, diag in results).items():
                log_metric(f"{self.name}/{key}", value)
        return [score for score, _ in results]

    def explain_batch(self, texts: Sequence[object],
                      rows: Sequence[Mapping[str, Any]]) -> list[tuple[Score, dict[str, Any]]]:
        """:meth:`explain` of each completion with its row (what ``__call__`` scores).

        >>> class Length(Reward):
        ...     def score_row(self, text, row):
        ...         return len(text) / 4, {}
        >>> Length().explain_batch(["ab", "abcd"], [{}, {}])
        [(0.5, {}), (1.0, {})]
        """
        return [self.explain(text, row) for text, row in zip(texts, rows)]

    def decode(self, completions: Sequence[object],
               completion_ids: Sequence[Sequence[int]] | None) -> list[object]:
        """Texts to score: re-decoded from ids (special tokens kept) when a tokenizer is set.

        GRPOTrainer hands every reward function the same batch, so the batch decoded last is
        kept (:func:`decode_kept`) and the next reward with that tokenizer reuses it.

        >>> Reward().decode(["a", "b"], None)
        ['a', 'b']
        """
        if self.tokenizer is None or completion_ids is None or len(completion_ids) != len(completions):
            return list(completions)
        return decode_kept(self.tokenizer, completion_ids)


class _DecodedBatch(NamedTuple):
    tokenizer: Any
    ids: list[list[int]]
    texts: list[str]


_last_decoded: list[_DecodedBatch] = []
"""The batch :func:`decode_kept` decoded last (one entry, replaced whole: thread-safe)."""


def decode_kept(tokenizer: Any, completion_ids: Sequence[Sequence[int]]) -> list[str]:
    """``tokenizer.decode(ids, skip_special_tokens=False)`` of each sequence, reusing the
    previous call's texts when it decoded the same ids with the same tokenizer (each reward
    function of a GRPO step gets the same batch: decoding 250 tokens costs more than scoring).

    >>> class Letters:
    ...     calls = 0
    ...     def decode(self, ids, skip_special_tokens):
    ...         Letters.calls += 1
    ...         return "".join(chr(96 + i) for i in ids)
    >>> tokenizer = Letters()
    >>> decode_kept(tokenizer, [[1, 2], [3]]), decode_kept(tokenizer, [[1, 2], [3]]), Letters.calls
    (['ab', 'c'], ['ab', 'c'], 2)
    """
    ids = [list(sequence) for sequence in completion_ids]
    last = _last_decoded[0] if _last_decoded else None
    if last is not None and last.tokenizer is tokenizer and last.ids == ids:
        return list(last.texts)
    texts = [tokenizer.decode(sequence, skip_special_tokens=False) for sequence in ids]
    _last_decoded[:] = [_DecodedBatch(tokenizer, ids, texts)]
    return list(texts)


class _RowsBatch(NamedTuple):
    keys: tuple[str, ...]
    items: tuple[Any, ...]
    """Every item of the columns, column after column."""
    rows: list[dict[str, Any]]


_last_rows: list[_RowsBatch] = []
"""The rows :func:`rows_from_columns` built last (one entry, replaced whole: thread-safe)."""


def rows_from_columns(columns: Mapping[str, Any], count: int) -> list[dict[str, Any]]:
    """Turn TRL's column lists into one dict per completion; non-column kwargs are dropped.

    GRPOTrainer hands every reward function the same column lists, so the rows built last are
    reused while the columns hold the very same objects (identity, not ``==``: ``0 == False``
    would hand a reward the wrong row; a list changed in place is seen). The rows are shared:
    treat them as read-only.

    >>> rows_from_columns({"query": ["a", "b"], "trainer_state": object()}, 2)
    [{'query': 'a'}, {'query': 'b'}]
    >>> columns = {"query": ["a", "b"]}
    >>> rows_from_columns(columns, 2) is rows_from_columns(dict(columns), 2)
    True
    """
    usable = {key: value for key, value in columns.items()
              if isinstance(value, (list, tuple)) and len(value) == count}
    if not usable:
        return [{} for _ in range(count)]
    keys = tuple(usable)
    items = tuple(chain.from_iterable(usable.values()))  # every column holds count items
    last = _last_rows[0] if _last_rows else None
    if last is not None and last.keys == keys and same_objects(last.items, items):
        return last.rows
    rows = [dict(zip(keys, values)) for values in zip(*usable.values())]
    _last_rows[:] = [_RowsBatch(keys, items, rows)]
    return rows


def same_objects(kept: Sequence[Any], given: Sequence[Any]) -> bool:
    """True when both sequences hold the very same objects in the same order (identity, not
    ``==``, so no item's ``__eq__`` runs and ``0`` is not ``False``).

    >>> row = {"query": "a"}
    >>> same_objects([row], [row]), same_objects([row], [dict(row)]), same_objects([0], [False])
    (True, False, False)
    """
    return len(kept) == len(given) and all(map(operator.is_, kept, given))


def mean_metrics(diagnostics: Any) -> dict[str, float]:
    """Average the ``"metrics"`` sub-scores over a batch of diagnostics.

    >>> mean_metrics([{"metrics": {"a": 1.0}}, {"metrics": {"a": 0.0, "b": 0.5}}, {}])
    {'a': 0.5, 'b': 0.5}
    """
    columns: dict[str, list[float]] = {}
    for diagnostic in diagnostics:
        metrics = diagnostic.get("metrics") if diagnostic else None
        if not metrics:
            continue
        for key, value in metrics.items():
            if isinstance(value, (int, float)) and math.isfinite(value):
                if key in columns:
                    columns[key].append(value)
                else:
                    columns[key] = [value]
    return {key: sum(values) / len(values) for key, values in columns.items()}
