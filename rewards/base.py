"""The TRL-compatible reward base and the scored batch every reward reads.

A reward is a picklable callable object with a ``__name__`` (TRL logs it under that name).
It is called the GRPOTrainer way: ``reward(completions=[...], prompts=[...], completion_ids=[...],
<dataset columns as lists>, log_extra=..., log_metric=..., trainer_state=...)`` and returns one
``float`` in [0, 1] or ``None`` (does not apply) per completion. It never raises on model output:
an unexpected internal error scores 0.0, is reported in the diagnostics, and its rate is logged
as ``<name>/internal_error_rate`` (a warning each time the rate rises).

The scored batch: a call turns its completions into :class:`ScoredCompletion` objects (text, row,
and the parse every reward reads, computed once). GRPOTrainer calls each reward function
separately with the same batch, so the work derived from a batch (decoded texts, parses, the
citation reward's source context) is kept in a :class:`BatchMemo` keyed by CONTENT (the token
ids, the text, the source texts), which the next call inherits: the second reward of a step
finds the first one's parses, and a batch that differs in anything misses, whatever objects
it is made of.

The decode trap: TRL decodes completions with ``skip_special_tokens=True``, which erases the
Pleias structure tokens. Give the reward the tokenizer (``tokenizer=``) and it re-decodes
``completion_ids`` with ``skip_special_tokens=False``.
"""

from __future__ import annotations

import logging
import math
from contextvars import ContextVar
from typing import Any, Callable, Hashable, Iterable, Iterator, Mapping, Sequence, TypeVar

from pleias_rl.data.format import ParsedCompletion, parse_completion
from pleias_rl.data.schema import completion_text

logger = logging.getLogger(__name__)

Score = float | None
"""One reward value: a float in [0, 1], or ``None`` where the reward does not apply."""

Explained = tuple[Score, dict[str, Any]]
"""What :meth:`Reward.explain` returns: the score and its diagnostics."""

T = TypeVar("T")


class BatchMemo:
    """Work derived from one batch, keyed by content, and readable by the next batch.

    ``previous`` is the memo of the batch before (only its own values: never a chain), so the
    rewards that GRPOTrainer calls one after another on the same completions share one parse.

    >>> first = BatchMemo()
    >>> first.get(("context", "x"), lambda: [1]) is BatchMemo(first).get(("context", "x"), list)
    True
    """

    __slots__ = ("values", "previous", "parses", "previous_parses")

    def __init__(self, previous: "BatchMemo | None" = None) -> None:
        self.values: dict[Hashable, Any] = {}
        self.previous: dict[Hashable, Any] = previous.values if previous is not None else {}
        self.parses: dict[str, ParsedCompletion] = {}
        self.previous_parses: dict[str, ParsedCompletion] = previous.parses if previous is not None else {}

    def parse(self, text: str) -> ParsedCompletion:
        """:func:`pleias_rl.data.format.parse_completion` of ``text``, once per batch (the
        busiest key, kept apart).

        >>> memo = BatchMemo(); memo.parse("English<|language_end|>") is memo.parse("English<|language_end|>")
        True
        """
        parsed = self.parses.get(text)
        if parsed is None:
            parsed = self.previous_parses.get(text)
            if parsed is None:
                parsed = parse_completion(text)
            self.parses[text] = parsed
        return parsed

    def get(self, key: Hashable, build: Callable[[], T]) -> T:
        """The value kept under ``key``, built by ``build()`` the first time."""
        try:
            return self.values[key]
        except KeyError:
            value = self.previous[key] if key in self.previous else build()
            self.values[key] = value
            return value


_last_memo: list[BatchMemo] = []
"""The memo of the batch scored last (one entry, replaced whole: thread-safe)."""


def _inherited_memo() -> BatchMemo:
    """A new memo that can read the last batch's, published as the last one."""
    memo = BatchMemo(next(iter(_last_memo), None))
    _last_memo[:] = [memo]
    return memo


class ScoredCompletion:
    """One completion as every reward reads it: its text, its row, its parse (computed once),
    the rewards' results on it (plain and typed), and the memo of its batch.

    >>> item = ScoredCompletion("English<|language_end|>", {"query": "Who?"})
    >>> item.parsed.language, item.parsed is item.parsed
    ('English', True)
    """

    __slots__ = ("text", "row", "memo", "results", "derived", "_parsed")

    def __init__(self, text: str, row: Mapping[str, Any], memo: BatchMemo | None = None) -> None:
        self.text, self.row = text, row
        self.memo = memo if memo is not None else BatchMemo()
        self.results: dict[Reward, Explained] = {}
        """Each reward's :meth:`Reward.explain_completion` of this completion."""
        self.derived: dict[Hashable, Any] = {}
        """Typed results of this completion, keyed by content (e.g. the citation judgement)."""
        self._parsed: ParsedCompletion | None = None

    @property
    def parsed(self) -> ParsedCompletion:
        """:func:`pleias_rl.data.format.parse_completion` of :attr:`text` (treat as read-only)."""
        if self._parsed is None:
            self._parsed = self.memo.parse(self.text)
        return self._parsed


class ScoredBatch(Sequence[ScoredCompletion]):
    """The completions of one reward call, each with its row.

    >>> batch = ScoredBatch.from_call(["a", [{"role": "assistant", "content": "b"}]],
    ...                               columns={"query": ["q1", "q2"], "trainer_state": None})
    >>> [(item.text, item.row) for item in batch]
    [('a', {'query': 'q1'}), ('b', {'query': 'q2'})]
    """

    def __init__(self, texts: Sequence[str], rows: Sequence[Mapping[str, Any]],
                 memo: BatchMemo | None = None) -> None:
        self.memo = memo if memo is not None else BatchMemo()
        self.completions = [ScoredCompletion(text, row, self.memo) for text, row in zip(texts, rows)]

    @classmethod
    def from_call(cls, completions: Sequence[object] | None,
                  completion_ids: Sequence[Sequence[int]] | None = None, tokenizer: Any = None,
                  columns: Mapping[str, Any] | None = None) -> "ScoredBatch":
        """The batch of a GRPOTrainer-style call; inherits the last batch's memo (see the module
        docstring). With a tokenizer, texts are re-decoded from ``completion_ids``."""
        completions = list(completions or [])
        memo = _inherited_memo()
        if tokenizer is not None and completion_ids is not None and len(completion_ids) == len(completions):
            texts = [decoded_text(tokenizer, ids, memo) for ids in completion_ids]
        else:
            texts = [completion_text(completion) for completion in completions]
        return cls(texts, rows_from_columns(columns or {}, len(texts)), memo)

    def __getitem__(self, index: Any) -> Any:
        return self.completions[index]

    def __len__(self) -> int:
        return len(self.completions)

    def __iter__(self) -> Iterator[ScoredCompletion]:
        return iter(self.completions)


def decoded_text(tokenizer: Any, ids: Sequence[int], memo: BatchMemo) -> str:
    """``tokenizer.decode(ids, skip_special_tokens=False)``, once per batch and the next one
    (the memo is keyed by the ids; the tokenizer is kept with its text and checked).

    >>> class Letters:
    ...     calls = 0
    ...     def decode(self, ids, skip_special_tokens):
    ...         Letters.calls += 1
    ...         return "".join(chr(96 + i) for i in ids)
    >>> memo, letters = BatchMemo(), Letters()
    >>> decoded_text(letters, [1, 2], memo), decoded_text(letters, (1, 2), memo), Letters.calls
    ('ab', 'ab', 1)
    """
    key = ("decoded", id(tokenizer), tuple(ids))
    kept_tokenizer, text = memo.get(key, lambda: (tokenizer, tokenizer.decode(list(ids), skip_special_tokens=False)))
    if kept_tokenizer is not tokenizer:  # another tokenizer at a recycled id
        text = tokenizer.decode(list(ids), skip_special_tokens=False)
    return text


_scored: ContextVar[ScoredCompletion | None] = ContextVar("scored_completion", default=None)


def parse_cached(text: str) -> ParsedCompletion:
    """The parse of ``text``: while a reward scores a completion of that text, the parse its
    batch shares (every reward of the batch reads the same one); otherwise a fresh parse.

    For rewards written with :meth:`Reward.score_row`; treat the result as read-only.

    >>> parse_cached("English<|language_end|>").language
    'English'
    """
    scored = _scored.get()
    if scored is not None and scored.text == text:
        return scored.parsed
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
    """Base class of every reward. Subclasses set ``name`` and implement :meth:`score_row`
    (text and row) or :meth:`score_completion` (a :class:`ScoredCompletion`: parse shared).

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
        self._error_rates: dict[str, float] = {}

    @property
    def __name__(self) -> str:  # TRL names the logged column after the function
        return self.name

    def score_row(self, text: str, row: Mapping[str, Any]) -> tuple[Score, dict[str, Any]]:
        """Score one completion text against its row; return ``(score, diagnostics)``.

        ``diagnostics`` may hold ``"metrics"``: a dict of float sub-scores that the trainer
        logs as ``<name>/<metric>`` means.
        """
        raise NotImplementedError

    def score_completion(self, completion: ScoredCompletion) -> tuple[Score, dict[str, Any]]:
        """Score one :class:`ScoredCompletion`; by default :meth:`score_row` of its text and row
        (where :func:`parse_cached` returns the completion's shared parse)."""
        token = _scored.set(completion)
        try:
            return self.score_row(completion.text, completion.row)
        finally:
            _scored.reset(token)

    def explain(self, completion: object, row: Mapping[str, Any]) -> Explained:
        """Score one completion (any accepted shape) safely; never raises on model output.

        >>> class Broken(Reward):
        ...     name = "broken"
        ...     def score_row(self, text, row):
        ...         raise KeyError("bug")
        >>> Broken().explain("x", {})
        (0.0, {'internal_error': "KeyError('bug')"})
        """
        return self.explain_completion(ScoredCompletion(completion_text(completion), row))

    def explain_completion(self, completion: ScoredCompletion) -> Explained:
        """:meth:`explain` of a scored completion, computed once per completion and reward."""
        found = completion.results.get(self)
        if found is not None:
            return found
        try:
            score, diagnostics = self.score_completion(completion)
            result = (None if score is None else clamp(score)), diagnostics
        except Exception as error:  # a reward must never kill a training run
            if not self._warned:
                logger.exception("reward %s failed on a completion; scoring it 0.0", self.name)
                self._warned = True
            result = 0.0, {"internal_error": repr(error)}
        completion.results[self] = result
        return result

    def __call__(self, completions: Sequence[object] | None = None, *,
                 completion_ids: Sequence[Sequence[int]] | None = None,
                 log_metric: Callable[[str, float], None] | None = None,
                 log_extra: Callable[[str, list], None] | None = None,
                 **columns: Any) -> list[Score]:
        """Score a batch the GRPOTrainer way; see the module docstring."""
        batch = ScoredBatch.from_call(completions, completion_ids, self.tokenizer, columns)
        results = [self.explain_completion(completion) for completion in batch]
        if log_metric is not None:
            self.log_batch(results, log_metric, log_extra)
        return [score for score, _ in results]

    def explain_batch(self, texts: Sequence[object],
                      rows: Sequence[Mapping[str, Any]]) -> list[Explained]:
        """:meth:`explain` of each completion with its row, as one scored batch.

        >>> class Length(Reward):
        ...     def score_row(self, text, row):
        ...         return len(text) / 4, {}
        >>> Length().explain_batch(["ab", "abcd"], [{}, {}])
        [(0.5, {}), (1.0, {})]
        """
        batch = ScoredBatch([completion_text(text) for text in texts], rows)
        return [self.explain_completion(completion) for completion in batch]

    def log_batch(self, results: Sequence[Explained], log_metric: Callable[[str, float], None],
                  log_extra: Callable[[str, list], None] | None = None) -> None:
        """Log the means of the batch's sub-scores as ``<name>/<metric>`` and the internal error
        rate of each reward involved as ``<reward>/internal_error_rate``, warning when a rate
        rises above the previous batch's.

        >>> logged = {}
        >>> Reward().log_batch([(0.0, {"internal_error": "bug", "metrics": {"x": 1.0}}), (1.0, {})],
        ...                    logged.__setitem__)
        >>> logged
        {'reward/x': 1.0, 'reward/internal_error_rate': 0.5}
        """
        for key, value in mean_metrics(diagnostics for _, diagnostics in results).items():
            log_metric(f"{self.name}/{key}", value)
        for name, rate in self.internal_error_rates([diagnostics for _, diagnostics in results]).items():
            log_metric(f"{name}/internal_error_rate", rate)
            if rate > self._error_rates.get(name, 0.0):
                logger.warning("reward %s: internal errors on %.1f%% of the batch (was %.1f%%); "
                               "those completions score 0.0", name, 100 * rate,
                               100 * self._error_rates.get(name, 0.0))
            self._error_rates[name] = rate

    def internal_error_rates(self, diagnostics: Sequence[Mapping[str, Any]]) -> dict[str, float]:
        """The share of ``diagnostics`` reporting an internal error, per reward name.

        >>> Reward().internal_error_rates([{"internal_error": "bug"}, {}, {}, {}])
        {'reward': 0.25}
        """
        failed = sum("internal_error" in diagnostic for diagnostic in diagnostics)
        return {self.name: failed / len(diagnostics) if diagnostics else 0.0}


def explain_all(rewards: Iterable[Reward], completion: object,
                row: Mapping[str, Any]) -> dict[str, Explained]:
    """Every reward's :meth:`Reward.explain` of one completion, sharing its parse and row
    context (what ``score``, ``eval`` and ``critique`` use per row), keyed by reward name.

    >>> from pleias_rl.rewards.registry import get_reward
    >>> explained = explain_all([get_reward("format"), get_reward("citation")], "Hi", {"sources": []})
    >>> explained["format"][0], explained["citation"][0]
    (0.04841, 0.0)
    """
    scored = ScoredCompletion(completion_text(completion), row)
    return {reward.name: reward.explain_completion(scored) for reward in rewards}


def rows_from_columns(columns: Mapping[str, Any], count: int) -> list[dict[str, Any]]:
    """Turn TRL's column lists into one dict per completion; non-column kwargs are dropped.

    >>> rows_from_columns({"query": ["a", "b"], "trainer_state": object()}, 2)
    [{'query': 'a'}, {'query': 'b'}]
    """
    usable = {key: value for key, value in columns.items()
              if isinstance(value, (list, tuple)) and len(value) == count}
    if not usable:
        return [{} for _ in range(count)]
    keys = tuple(usable)
    return [dict(zip(keys, values)) for values in zip(*usable.values())]


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
            # a finite float (x - x is 0.0 only then), or any other finite number
            if (value - value == 0.0 if type(value) is float
                    else isinstance(value, (int, float)) and math.isfinite(value)):
                column = columns.get(key)
                if column is None:
                    columns[key] = [value]
                else:
                    column.append(value)
    return {key: sum(values) / len(values) for key, values in columns.items()}
