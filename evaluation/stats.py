"""Uncertainty of evaluation means: percentile bootstrap intervals, seedable and deterministic.

Two measures, both on per-prompt scores of one held-out set:

- :func:`bootstrap_mean` : the mean of one model's scores with its 95% interval (prompts
  resampled with replacement);
- :func:`paired_difference` : the mean of ``after - before`` over the prompts both models were
  scored on, with its interval; the pairing removes the prompt-to-prompt spread, so it is far
  tighter than comparing two separate intervals.

An interval that excludes 0 (:attr:`Interval.significant`) is what the reports call a
significant change. Pure Python (``random.Random(seed)``): the same inputs and seed give the same
interval everywhere.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass
from typing import Any, Sequence

RESAMPLES = 2000
"""Bootstrap resamples (the interval bounds move by about 0.002 between seeds at n = 60)."""

CONFIDENCE = 0.95
"""Coverage of the reported intervals."""


@dataclass(frozen=True)
class Interval:
    """A mean with its bootstrap interval and the number of values it rests on.

    >>> Interval(0.25, 0.1, 0.4, 60).significant, Interval(0.05, -0.01, 0.11, 60).significant
    (True, False)
    >>> Interval(0.25, 0.1, 0.4, 60).as_dict()
    {'mean': 0.25, 'low': 0.1, 'high': 0.4, 'n': 60}
    """

    mean: float
    low: float
    high: float
    n: int

    @property
    def significant(self) -> bool:
        """True when the interval excludes 0."""
        return self.low > 0.0 or self.high < 0.0

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (``mean``, ``low``, ``high``, ``n``)."""
        return asdict(self)


def percentile(sorted_values: Sequence[float], share: float) -> float:
    """The ``share`` quantile of already sorted values, interpolated linearly between ranks.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 0.5), percentile([1.0, 2.0, 3.0, 4.0], 0.0)
    (2.5, 1.0)
    """
    if not sorted_values:
        raise ValueError("percentile of no values")
    position = share * (len(sorted_values) - 1)
    below = math.floor(position)
    above = min(below + 1, len(sorted_values) - 1)
    weight = position - below
    return sorted_values[below] * (1.0 - weight) + sorted_values[above] * weight


def bootstrap_mean(values: Sequence[float], seed: int = 0, resamples: int = RESAMPLES,
                   confidence: float = CONFIDENCE) -> Interval:
    """The mean of ``values`` and its percentile bootstrap interval.

    >>> bootstrap_mean([0.0, 1.0] * 30, seed=1)
    Interval(mean=0.5, low=0.366..., high=0.633..., n=60)
    >>> bootstrap_mean([0.0, 1.0] * 30, seed=1) == bootstrap_mean([0.0, 1.0] * 30, seed=1)
    True
    >>> bootstrap_mean([0.7])
    Interval(mean=0.7, low=0.7, high=0.7, n=1)
    """
    if not values:
        raise ValueError("bootstrap of no values")
    count = len(values)
    rng = random.Random(seed)
    means = sorted(sum(values[rng.randrange(count)] for _ in range(count)) / count
                   for _ in range(resamples))
    tail = (1.0 - confidence) / 2.0
    return Interval(sum(values) / count, percentile(means, tail), percentile(means, 1.0 - tail), count)


def paired_difference(after: Sequence[float], before: Sequence[float], seed: int = 0,
                      resamples: int = RESAMPLES, confidence: float = CONFIDENCE) -> Interval:
    """Mean of ``after[i] - before[i]`` with its bootstrap interval (prompts resampled as pairs).

    >>> paired_difference([0.6, 0.7, 0.8, 0.9] * 15, [0.5, 0.6, 0.7, 0.8] * 15).significant
    True
    >>> paired_difference([1.0, 0.0] * 30, [0.0, 1.0] * 30, seed=3).significant
    False
    >>> paired_difference([1.0], [1.0, 0.0])
    Traceback (most recent call last):
    ValueError: paired difference of 1 and 2 values: the same prompts must be scored in both
    """
    if len(after) != len(before):
        raise ValueError(f"paired difference of {len(after)} and {len(before)} values: "
                         "the same prompts must be scored in both")
    return bootstrap_mean([a - b for a, b in zip(after, before)], seed, resamples, confidence)


def describe_change(name: str, difference: Interval) -> str:
    """A plain phrase saying whether ``name`` changed significantly, and which way.

    >>> describe_change("citation", Interval(0.12, 0.05, 0.2, 60))
    'citation rose by 0.120 (95% CI 0.050 to 0.200)'
    >>> describe_change("format", Interval(-0.01, -0.05, 0.03, 60))
    'format did not change significantly (-0.010, 95% CI -0.050 to 0.030)'
    """
    bounds = f"95% CI {difference.low:.3f} to {difference.high:.3f}"
    if not difference.significant:
        return f"{name} did not change significantly ({difference.mean:+.3f}, {bounds})"
    direction = "rose" if difference.mean > 0 else "fell"
    return f"{name} {direction} by {abs(difference.mean):.3f} ({bounds})"
