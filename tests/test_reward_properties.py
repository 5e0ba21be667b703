"""Property tests over every registered reward (and the weighted combination).

Any completion shape (empty, huge, binary junk, nested/unclosed tags, weird ids, None, dicts,
conversational lists) and any row shape: never raise, never hit the internal-error fallback,
always a score in [0, 1] or None; picklable; callable from threads with TRL's keyword arguments.
"""

from __future__ import annotations

import math
import pickle
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pleias_rl.data.format import EOS_TOKEN, SPECIAL_TOKENS, format_ref, render_completion
from pleias_rl.rewards.base import mean_metrics
from pleias_rl.rewards.registry import REGISTRY, WeightedReward, get_reward

REWARDS = [get_reward(name) for name in REGISTRY] + [WeightedReward()]

PIECES = st.sampled_from(list(SPECIAL_TOKENS) + [
    EOS_TOKEN, '<ref name="', '<ref name="<|source_id|>', '">', "</ref>", "<ref>", "<ref name=1>",
    "-1", "99999999999", "0", "3", "x", "English", "French", "Trivial", "Infeasible", "Basic",
    "Helsby", " is a village", "(…)", "...", "\n", "  ", "\u2060", "\x00", "é", "1914", "Yes", "No"])

TAG_SOUP = st.lists(PIECES, max_size=80).map("".join)
TEXT = st.one_of(st.text(max_size=300), TAG_SOUP,
                 st.binary(max_size=300).map(lambda b: b.decode("latin-1")))
COMPLETION = st.one_of(
    TEXT, st.none(), st.integers(), st.dictionaries(st.text(max_size=5), TEXT, max_size=3),
    st.lists(st.fixed_dictionaries({"role": st.sampled_from(["assistant", "user", "system"]),
                                     "content": st.one_of(TEXT, st.none(), st.integers())}), max_size=3),
    st.lists(TEXT, max_size=3))
SOURCES = st.one_of(st.none(), st.text(max_size=50), st.lists(st.one_of(
    TEXT, st.none(), st.integers(), st.fixed_dictionaries({"text": st.one_of(TEXT, st.none())})),
    max_size=12))
ROW = st.fixed_dictionaries({}, optional={
    "query": st.one_of(TEXT, st.none(), st.integers()),
    "sources": SOURCES,
    "language": st.one_of(st.sampled_from(["en", "fr", "la", "xx", "French", ""]), st.none(), st.integers()),
    "answer": st.one_of(TEXT, st.none(), st.lists(st.one_of(TEXT, st.integers()), max_size=3)),
    "supporting_ids": st.one_of(st.none(), st.text(max_size=3),
                                st.lists(st.one_of(st.integers(), st.text(max_size=3)), max_size=5)),
    "answerable": st.one_of(st.booleans(), st.none(), st.text(max_size=3)),
})


def assert_valid(score, diagnostics, reward):
    assert "internal_error" not in diagnostics, (reward.name, diagnostics)
    assert score is None or (isinstance(score, float) and 0.0 <= score <= 1.0)


@pytest.mark.parametrize("reward", REWARDS, ids=[r.name for r in REWARDS])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(completion=COMPLETION, row=ROW)
def test_any_completion_any_row(reward, completion, row):
    assert_valid(*reward.explain(completion, row), reward)


@pytest.mark.parametrize("reward", REWARDS, ids=[r.name for r in REWARDS])
@settings(max_examples=40, deadline=None)
@given(completions=st.lists(COMPLETION, max_size=4), data=st.data())
def test_batch_call_with_trl_kwargs(reward, completions, data):
    n = len(completions)
    columns = {key: data.draw(st.lists(strategy, min_size=n, max_size=n)) for key, strategy in (
        ("sources", SOURCES), ("query", st.one_of(TEXT, st.none())), ("answer", st.one_of(TEXT, st.none())))}
    extras = []
    scores = reward(completions=completions, prompts=["p"] * n, completion_ids=[[1, 2, 3]] * n,
                    trainer_state=None, log_extra=lambda *a: extras.append(a),
                    log_metric=lambda *a: extras.append(a), **columns)
    assert len(scores) == n
    assert all(s is None or 0.0 <= s <= 1.0 for s in scores)


HUGE = [
    "<ref " * 20_000,
    '<ref name="1">a</ref>' * 5_000,
    "<|answer_start|>" * 6_000,
    "x" * 100_000,
    "Helsby, " * 12_500,
    render_completion(language="English", query_analysis="a " * 20_000, query_report="Trivial",
                      answer="Helsby " * 10_000 + format_ref(1, "Helsby is a village " * 1_000)),
]


@pytest.mark.parametrize("reward", REWARDS, ids=[r.name for r in REWARDS])
def test_huge_completions_in_bounded_time(reward):
    row = {"query": "Which village is it?", "sources": ["Helsby is a village in Cheshire."] * 10,
           "answer": "Helsby", "supporting_ids": [1], "answerable": True}
    for text in HUGE:
        start = time.perf_counter()
        assert_valid(*reward.explain(text, row), reward)
        assert time.perf_counter() - start < 5.0


def test_all_rewards_pickle_and_run_in_threads():
    row_columns = dict(sources=[["Helsby is a village in Cheshire."]] * 3, query=["Which village?"] * 3,
                       answer=["Helsby"] * 3, supporting_ids=[[1]] * 3, answerable=[True] * 3)
    good = render_completion(language="English", query_analysis="a", query_report="Trivial",
                             answer="Helsby" + format_ref(1, "Helsby is a village in Cheshire") + ".")
    completions = [good, "", [{"role": "assistant", "content": good}]]
    restored = pickle.loads(pickle.dumps(REWARDS))
    expected = [r(completions=completions, **row_columns) for r in REWARDS]
    with ThreadPoolExecutor(max_workers=6) as pool:
        futures = [pool.submit(r, completions=completions, prompts=["p"] * 3,
                               completion_ids=[[1]] * 3, trainer_state=None, log_extra=None,
                               log_metric=None, **row_columns) for r in restored * 4]
        results = [f.result() for f in futures]
    assert results == expected * 4
    assert all(r.__name__ == e.__name__ for r, e in zip(restored, REWARDS))


HONEST = render_completion(language="English", query_analysis="A lookup.", query_report="Trivial",
                           answer="It is Helsby" + format_ref(1, "Helsby is a village in Cheshire") + ".")
STEP_SOURCES = st.sampled_from([["Helsby is a village in Cheshire."], ["Chester is a city."],
                                [{"text": "Helsby is a village in Cheshire."}], []])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.lists(st.tuples(
    st.sampled_from([HONEST, HONEST.replace("Trivial", "Answerable"), "No idea.", HONEST[:80]]),
    STEP_SOURCES, st.sampled_from([True, False, 0, 1, None]), st.sampled_from(["Where?", "Où ?"])),
    min_size=1, max_size=4), min_size=1, max_size=4), mutate=st.booleans())
def test_rewards_sharing_a_batch_score_as_each_completion_alone(steps, mutate):
    """GRPOTrainer's way (each reward called on the same lists, which may then change in place)
    scores exactly what :meth:`explain` gives each completion on its own row."""
    for step in steps:
        columns = {"sources": [s for _, s, _, _ in step], "answerable": [a for _, _, a, _ in step],
                   "query": [q for _, _, _, q in step]}
        completions = [c for c, _, _, _ in step]
        for round_ in range(2):
            for reward in REWARDS:
                expected = [reward.explain(c, {k: v[i] for k, v in columns.items()})[0]
                            for i, c in enumerate(completions)]
                assert reward(completions=completions, **columns) == expected
            if mutate and round_ == 0:  # the trainer's lists changed in place between calls
                columns["answerable"].reverse()
                columns["sources"].reverse()


METRIC_VALUE = st.one_of(st.floats(), st.integers(-10**6, 10**6), st.booleans(), st.none(), st.text(max_size=3))


@given(st.lists(st.one_of(st.none(), st.fixed_dictionaries({}, optional={"metrics": st.one_of(st.none(), st.dictionaries(
    st.sampled_from(["a", "b", "c"]), METRIC_VALUE, max_size=3))})), max_size=6))
def test_mean_metrics_averages_the_finite_numbers(diagnostics):
    """Its fast path for floats keeps the definition: the mean of every finite int, float or bool."""
    columns: dict[str, list[float]] = {}
    for diagnostic in diagnostics:
        for key, value in ((diagnostic or {}).get("metrics") or {}).items():
            if isinstance(value, (int, float)) and math.isfinite(value):
                columns.setdefault(key, []).append(value)
    assert mean_metrics(diagnostics) == {key: sum(values) / len(values) for key, values in columns.items()}
