"""Bootstrap intervals and paired differences (pleias_rl.evaluation.stats): real numbers, properties."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from pleias_rl.evaluation.stats import bootstrap_mean, paired_difference, percentile

scores = st.lists(st.floats(min_value=0.0, max_value=1.0, allow_nan=False), min_size=1, max_size=80)


@settings(max_examples=60, deadline=None)
@given(scores, st.integers(0, 2**16))
def test_interval_holds_the_mean_and_is_deterministic(values: list[float], seed: int) -> None:
    interval = bootstrap_mean(values, seed=seed, resamples=200)
    assert interval.low - 1e-12 <= interval.mean <= interval.high + 1e-12
    assert min(values) - 1e-12 <= interval.low and interval.high <= max(values) + 1e-12
    assert interval == bootstrap_mean(values, seed=seed, resamples=200) and interval.n == len(values)


@settings(max_examples=60, deadline=None)
@given(scores)
def test_a_model_against_itself_changes_nothing(values: list[float]) -> None:
    difference = paired_difference(values, values, resamples=200)
    assert (difference.mean, difference.low, difference.high) == (0.0, 0.0, 0.0)
    assert not difference.significant


def test_pairing_finds_a_small_shift_that_separate_intervals_miss() -> None:
    rng = random.Random(7)
    before = [rng.random() for _ in range(60)]
    after = [value + 0.03 for value in before]
    first, second = bootstrap_mean(before), bootstrap_mean(after)
    assert second.low < first.high  # the separate intervals overlap...
    difference = paired_difference(after, before)
    assert difference.significant and abs(difference.mean - 0.03) < 1e-9  # ...the paired one does not


def test_interval_width_shrinks_with_n() -> None:
    rng = random.Random(1)
    small = bootstrap_mean([float(rng.random() < 0.5) for _ in range(60)])
    large = bootstrap_mean([float(rng.random() < 0.5) for _ in range(600)])
    assert 0.2 < small.high - small.low < 0.3  # about 2 x 1.96 x sqrt(0.25 / 60) = 0.253
    assert 0.06 < large.high - large.low < 0.1  # about 0.080


def test_percentile_interpolates() -> None:
    assert percentile([0.0, 10.0], 0.25) == 2.5
