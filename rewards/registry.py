"""Reward registry (name -> class), YAML-style specs and the gated weighted combination.

A spec, as written in a recipe or on the command line, is any of::

    "citation,format,language"                       # names, comma-separated
    [citation, format]                               # a list of names
    [{name: citation, weight: 2.0, options: {...}}]  # a list of dicts
    {citation: 2.0, format: {weight: 1.0, options: {...}}}   # a mapping

Classes are imported only when first looked up, so ``import pleias_rl.rewards.registry`` stays cheap.

Gating (what :class:`WeightedReward` ships, :data:`DEFAULT_GATES`): a citation reward alone gets
gamed (malformed tags, citing everything, quoting without answering). So ``citation`` and
``source_f1`` count only when the ``format`` score of the same output reaches 0.5; below it they
count as 0 (not dropped, which would let a broken output escape them).
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Iterator, Mapping, Sequence

from pleias_rl.rewards.base import Explained, Reward, Score, ScoredCompletion

_LOCATIONS: dict[str, str] = {
    "citation": "pleias_rl.rewards.citation:CitationReward",
    "format": "pleias_rl.rewards.format:FormatReward",
    "language": "pleias_rl.rewards.language:LanguageReward",
    "answer": "pleias_rl.rewards.gold:AnswerReward",
    "source_f1": "pleias_rl.rewards.gold:SourceF1Reward",
    "refusal": "pleias_rl.rewards.gold:RefusalReward",
}

DEFAULT_GATES: dict[str, dict[str, float]] = {
    "citation": {"format": 0.5},
    "source_f1": {"format": 0.5},
}
"""``{gated reward: {gating reward: minimum score}}`` used by :class:`WeightedReward`."""


class RewardRegistry(Mapping[str, type]):
    """Name -> reward class, importing each class on first lookup.

    >>> registry = RewardRegistry({"format": "pleias_rl.rewards.format:FormatReward"})
    >>> registry["format"].__name__, list(registry)
    ('FormatReward', ['format'])
    """

    def __init__(self, locations: Mapping[str, str]) -> None:
        self._locations = dict(locations)
        self._classes: dict[str, type] = {}

    def __getitem__(self, name: str) -> type:
        """The class registered as ``name``; a ``"module:Class"`` name imports that class (your
        own :class:`~pleias_rl.rewards.base.Reward` subclass, usable in a recipe without registering it).

        >>> RewardRegistry({})["pleias_rl.rewards.gold:AnswerReward"].__name__
        'AnswerReward'
        >>> RewardRegistry({})["pleias_rl.rewards.gold:no_such_class"]
        Traceback (most recent call last):
        ...
        KeyError: "cannot import reward 'pleias_rl.rewards.gold:no_such_class': module 'pleias_rl.rewards.gold' has no attribute 'no_such_class'"
        """
        if name not in self._classes:
            location = self._locations.get(name, name if ":" in name else None)
            if location is None:
                raise KeyError(f"unknown reward {name!r}; registered: {', '.join(self)} "
                               "(or give your own as module:Class)")
            self._classes[name] = _import_reward(name, location)
        return self._classes[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._locations)

    def __len__(self) -> int:
        return len(self._locations)

    def register(self, name: str, reward_class: type | str) -> None:
        """Add a reward class (or a ``"module:Class"`` path) under ``name``.

        >>> registry = RewardRegistry({})
        >>> registry.register("length", "pleias_rl.rewards.format:FormatReward"); "length" in registry
        True
        """
        if isinstance(reward_class, str):
            self._locations[name] = reward_class
            self._classes.pop(name, None)
        else:
            self._locations[name] = f"{reward_class.__module__}:{reward_class.__qualname__}"
            self._classes[name] = reward_class


def _import_reward(name: str, location: str) -> type:
    """Import the ``module:Class`` at ``location``; it must be a Reward subclass."""
    module, _, attribute = location.partition(":")
    try:
        found = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as error:
        raise KeyError(f"cannot import reward {name!r}: {error}") from error
    if not (isinstance(found, type) and issubclass(found, Reward)):
        raise KeyError(f"reward {name!r} is not a subclass of pleias_rl.rewards.base.Reward")
    return found


REGISTRY = RewardRegistry(_LOCATIONS)
"""Every registered reward: citation, format, language, answer, source_f1, refusal."""


def get_reward(name: str, tokenizer: Any = None, **options: Any) -> Reward:
    """Instantiate a registered reward by name.

    >>> get_reward("format").__name__
    'format'
    >>> get_reward("nope")
    Traceback (most recent call last):
    ...
    KeyError: "unknown reward 'nope'; registered: citation, format, language, answer, source_f1, refusal (or give your own as module:Class)"
    """
    return REGISTRY[name](tokenizer=tokenizer, **options)


def parse_spec(spec: object) -> list[tuple[str, float, dict[str, Any]]]:
    """Normalise a reward spec into ``[(name, weight, options)]``; ``None`` means every reward.

    Raises ``ValueError`` naming the bad entry.

    >>> parse_spec("citation, format")
    [('citation', 1.0, {}), ('format', 1.0, {})]
    >>> parse_spec([{"name": "answer", "weight": 2, "options": {"x": 1}}])
    [('answer', 2.0, {'x': 1})]
    >>> parse_spec({"format": 0.5, "language": {"weight": 3}})
    [('format', 0.5, {}), ('language', 3.0, {})]
    """
    if spec is None:
        return [(name, 1.0, {}) for name in REGISTRY]
    if isinstance(spec, str):
        return [(name.strip(), 1.0, {}) for name in spec.split(",") if name.strip()]
    if isinstance(spec, Mapping):
        return [_entry({"name": name, **(value if isinstance(value, Mapping) else {"weight": value})})
                for name, value in spec.items()]
    if isinstance(spec, (list, tuple)):
        return [_entry({"name": item} if isinstance(item, str) else item) for item in spec]
    raise ValueError(f"reward spec must be names, a list or a mapping, got {type(spec).__name__}")


def _entry(item: object) -> tuple[str, float, dict[str, Any]]:
    if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
        raise ValueError(f"reward spec entry {item!r} needs a 'name'")
    weight, options = item.get("weight", 1.0), item.get("options") or {}
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
        raise ValueError(f"reward {item['name']!r}: weight must be a number >= 0, got {weight!r}")
    if not isinstance(options, Mapping):
        raise ValueError(f"reward {item['name']!r}: options must be a mapping")
    return item["name"], float(weight), dict(options)


def build_rewards(spec: object = None, tokenizer: Any = None) -> tuple[list[Reward], list[float]]:
    """Build reward instances and their weights from a spec (TRL's ``reward_funcs`` and
    ``reward_weights``). Unknown names raise ``KeyError`` before anything runs.

    >>> funcs, weights = build_rewards({"format": 2.0, "language": 1.0})
    >>> [f.__name__ for f in funcs], weights
    (['format', 'language'], [2.0, 1.0])
    """
    entries = parse_spec(spec)
    rewards = [get_reward(name, tokenizer=tokenizer, **options) for name, _, options in entries]
    return rewards, [weight for _, weight, _ in entries]


class WeightedReward(Reward):
    """A weighted mean of the applicable component rewards, with gating.

    Components returning ``None`` drop out of the mean; when none applies the result is
    ``None``. ``gates`` (default :data:`DEFAULT_GATES`) zero a component whose gating reward
    scores below its threshold; a gate whose gating reward is not among the components is ignored.

    >>> from pleias_rl.data.format import render_completion
    >>> good = render_completion(language="English", query_analysis="Easy.", query_report="Trivial",
    ...                          answer="It is Helsby.")
    >>> weighted = WeightedReward({"format": 1.0, "answer": 3.0})
    >>> weighted(completions=[good, good], answer=["Helsby", None])
    [1.0, 1.0]
    >>> weighted.explain(good, {"answer": "Chester"})[0]  # (1 * 1.0 + 3 * 0.0) / 4
    0.25
    """

    name = "weighted"

    def __init__(self, spec: object = None, tokenizer: Any = None,
                 gates: Mapping[str, Mapping[str, float]] | None = None, **options: Any) -> None:
        super().__init__(tokenizer=tokenizer, **options)
        self.components, self.weights = build_rewards(spec, tokenizer=tokenizer)
        self.gates = {k: dict(v) for k, v in (DEFAULT_GATES if gates is None else gates).items()}

    def score_completion(self, completion: ScoredCompletion) -> tuple[Score, dict[str, Any]]:
        """Score every component on the same scored completion (one parse), apply the gates,
        and take the weighted mean."""
        scores: dict[str, Score] = {}
        details: dict[str, Any] = {}
        for component in self.components:
            scores[component.name], details[component.name] = component.explain_completion(completion)
        gated = self._gated(scores)
        total = weight_sum = 0.0
        for component, weight in zip(self.components, self.weights):
            score = scores[component.name]
            if score is None or weight == 0:
                continue
            total += weight * (0.0 if component.name in gated else score)
            weight_sum += weight
        diagnostics = {"components": scores, "gated": sorted(gated), "details": details,
                       "metrics": _component_metrics(scores, details)}
        return (None if weight_sum == 0 else round(total / weight_sum, 6)), diagnostics

    def log_batch(self, results: Sequence[Explained], log_metric: Callable[[str, float], None],
                  log_extra: Callable[[str, list], None] | None = None) -> None:
        """:meth:`Reward.log_batch`, plus each component's score per completion as a column of
        the trainer's completions table (``log_extra``): one scoring, every component visible.

        >>> logged, columns = {}, {}
        >>> weighted = WeightedReward({"format": 1.0, "answer": 3.0})
        >>> weighted.log_batch(weighted.explain_batch(["x"], [{"answer": "y"}]),
        ...                    logged.__setitem__, columns.__setitem__)
        >>> logged["weighted/format"], logged["weighted/answer"], columns
        (0.04841, 0.0, {'format': [0.04841], 'answer': [0.0]})
        """
        super().log_batch(results, log_metric, log_extra)
        if log_extra is not None:
            for component in self.components:
                log_extra(component.name, [diagnostics.get("components", {}).get(component.name)
                                           for _, diagnostics in results])

    def internal_error_rates(self, diagnostics: Sequence[Mapping[str, Any]]) -> dict[str, float]:
        """The weighted reward's own rate and each component's.

        >>> weighted = WeightedReward("format")
        >>> weighted.internal_error_rates([{"details": {"format": {"internal_error": "bug"}}}, {}])
        {'weighted': 0.0, 'format': 0.5}
        """
        rates = super().internal_error_rates(diagnostics)
        for component in self.components:
            rates.update(component.internal_error_rates(
                [(diagnostic.get("details") or {}).get(component.name) or {} for diagnostic in diagnostics]))
        return rates

    def _gated(self, scores: Mapping[str, Score]) -> set[str]:
        gated = set()
        for name, conditions in self.gates.items():
            for gate, minimum in conditions.items():
                value = scores.get(gate)
                if name in scores and gate in scores and (value is None or value < minimum):
                    gated.add(name)
        return gated


def _component_metrics(scores: Mapping[str, Score], details: Mapping[str, Any]) -> dict[str, float]:
    """Each component's score and its own sub-metrics, as ``name`` and ``name/metric``.

    >>> _component_metrics({"citation": 0.5, "language": None},
    ...                    {"citation": {"metrics": {"exact_rate": 1.0}}, "language": {}})
    {'citation': 0.5, 'citation/exact_rate': 1.0}
    """
    metrics: dict[str, float] = {}
    for name, score in scores.items():
        if score is not None:
            metrics[name] = score
        for key, value in (details.get(name) or {}).get("metrics", {}).items():
            metrics[f"{name}/{key}"] = value
    return metrics
