"""pleias_rl.rewards.registry: names, specs, the gated weighted combination, pickling and threads."""

from __future__ import annotations

import pickle
from concurrent.futures import ThreadPoolExecutor

import pytest

from pleias_rl.data.format import format_ref, render_completion
from pleias_rl.rewards import REGISTRY as EXPORTED
from pleias_rl.rewards.base import Reward
from pleias_rl.rewards.registry import (
    DEFAULT_GATES, REGISTRY, WeightedReward, build_rewards, get_reward, parse_spec,
)

SOURCES = ["Helsby is a village in Cheshire, England.", "Shotwick is a hamlet near Chester."]


def output(answer: str, **overrides) -> str:
    values = dict(language="English", query_analysis="A lookup.", query_report="Trivial", answer=answer)
    values.update(overrides)
    return render_completion(**values)


GOOD = output("The village is Helsby" + format_ref(1, "Helsby is a village in Cheshire") + ".")


def test_every_contract_name_is_registered():
    assert list(REGISTRY) == ["citation", "format", "language", "answer", "source_f1", "refusal"]
    assert EXPORTED is REGISTRY
    for name in REGISTRY:
        reward = get_reward(name)
        assert isinstance(reward, Reward) and reward.__name__ == name


def test_get_reward_passes_tokenizer_and_options():
    reward = get_reward("format", tokenizer="tok", note=1)
    assert reward.tokenizer == "tok" and reward.options == {"note": 1}
    with pytest.raises(KeyError, match="unknown reward 'accuracy'"):
        get_reward("accuracy")


@pytest.mark.parametrize("spec", [
    "format, answer",
    ["format", "answer"],
    [{"name": "format"}, {"name": "answer", "weight": 1}],
    {"format": 1.0, "answer": {"weight": 1.0}},
])
def test_spec_shapes(spec):
    rewards, weights = build_rewards(spec)
    assert [r.__name__ for r in rewards] == ["format", "answer"] and weights == [1.0, 1.0]


@pytest.mark.parametrize(("spec", "message"), [
    ([{"weight": 1}], "needs a 'name'"),
    ({"format": -1}, "weight must be a number >= 0"),
    ([{"name": "format", "options": [1]}], "options must be a mapping"),
    (42, "reward spec must be"),
])
def test_bad_specs_name_the_problem(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_spec(spec)


def test_weighted_mean_skips_not_applicable_components():
    weighted = WeightedReward({"format": 1.0, "answer": 3.0})
    assert weighted(completions=[GOOD, GOOD], answer=["Helsby", None]) == [1.0, 1.0]
    assert weighted(completions=[GOOD], answer=["Chester"]) == [0.25]
    assert WeightedReward(["answer"])(completions=[GOOD], answer=[None]) == [None]


def test_citation_is_gated_on_format():
    weighted = WeightedReward({"citation": 1.0, "format": 1.0})
    row = {"sources": SOURCES, "query": "Which village?"}
    clean, diagnostics = weighted.explain(GOOD, row)
    assert clean == 1.0 and diagnostics["gated"] == []
    # Same honest quote, but the structure is broken (no language line, no sections: format < 0.5).
    broken = "<|answer_start|>The village is Helsby" + format_ref(1, "Helsby is a village in Cheshire") + "."
    score, diagnostics = weighted.explain(broken, row)
    assert diagnostics["components"]["citation"] == 1.0
    assert diagnostics["gated"] == ["citation"]
    assert score == pytest.approx(diagnostics["components"]["format"] / 2, abs=1e-6)
    ungated = WeightedReward({"citation": 1.0, "format": 1.0}, gates={}).explain(broken, row)[0]
    assert ungated > score
    assert DEFAULT_GATES["citation"] == {"format": 0.5}


def test_rewards_pickle_and_run_from_threads():
    rewards = [get_reward(name) for name in REGISTRY] + [WeightedReward()]
    restored = pickle.loads(pickle.dumps(rewards))
    kwargs = dict(prompts=["p"] * 4, completions=[GOOD, "junk", GOOD, ""],
                  completion_ids=[[1, 2]] * 4, sources=[SOURCES] * 4, query=["Which village?"] * 4,
                  answer=["Helsby"] * 4, supporting_ids=[[1]] * 4, answerable=[True] * 4,
                  trainer_state=object(), log_extra=lambda *a: None, log_metric=lambda *a: None)
    expected = [reward(**kwargs) for reward in rewards]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda reward: reward(**kwargs), restored * 3))
    assert results == expected * 3


def test_specs_from_yaml():
    yaml = pytest.importorskip("yaml")
    recipe = yaml.safe_load("""
rewards:
  - name: citation
    weight: 2.0
  - name: format
  - {name: language, weight: 0.5}
gates:
  citation: {format: 0.8}
""")
    weighted = WeightedReward(recipe["rewards"], gates=recipe["gates"])
    assert [c.__name__ for c in weighted.components] == ["citation", "format", "language"]
    assert weighted.weights == [2.0, 1.0, 0.5] and weighted.gates == {"citation": {"format": 0.8}}
    assert pickle.loads(pickle.dumps(weighted)).weights == [2.0, 1.0, 0.5]


def test_a_weighted_reward_scores_each_component_once_and_logs_every_component(monkeypatch):
    from pleias_rl.rewards import base

    weighted = WeightedReward({"citation": 2.0, "format": 1.0, "answer": 1.0})
    columns = dict(sources=[SOURCES] * 2, query=["Which village?"] * 2, answer=["Helsby", "Chester"])
    completions = [GOOD, output("No idea.")]
    standalone = {name: get_reward(name)(completions=completions, **columns)
                  for name in ("citation", "format", "answer")}
    parsed: list[str] = []
    parse = base.parse_completion
    monkeypatch.setattr(base, "parse_completion", lambda text: parsed.append(text) or parse(text))
    logged: dict[str, float] = {}
    table: dict[str, list] = {}
    weighted(completions=[GOOD, output("Not yet seen.")], log_metric=logged.__setitem__,
             log_extra=table.__setitem__, **columns)
    assert parsed == [output("Not yet seen.")]  # GOOD's parse came from the last batch's memo
    weighted(completions=completions, log_metric=logged.__setitem__, log_extra=table.__setitem__, **columns)
    assert table == standalone  # one column per component, as each scores alone
    assert logged["weighted/citation/ref_count"] == 0.5 and logged["weighted/format"] == pytest.approx(
        sum(standalone["format"]) / 2)
    assert logged["citation/internal_error_rate"] == logged["weighted/internal_error_rate"] == 0.0


def test_internal_errors_are_logged_as_a_rate_and_warned_when_it_rises(caplog):
    class Fragile(Reward):
        name = "fragile"

        def score_row(self, text, row):
            if "bug" in text:
                raise ValueError("internal")
            return 1.0, {}

    fragile, logged = Fragile(), {}
    assert fragile(completions=["ok", "bug"], log_metric=logged.__setitem__) == [1.0, 0.0]
    assert logged["fragile/internal_error_rate"] == 0.5
    assert "internal errors on 50.0% of the batch" in caplog.text
    caplog.clear()
    fragile(completions=["bug", "bug", "ok", "ok"], log_metric=logged.__setitem__)
    assert logged["fragile/internal_error_rate"] == 0.5 and "internal errors" not in caplog.text
    fragile(completions=["bug", "bug", "ok"], log_metric=logged.__setitem__)
    assert "internal errors on 66.7% of the batch (was 50.0%)" in caplog.text


def test_own_reward_classes_by_module_path():
    funcs, weights = build_rewards({"format": 1.0, "custom_reward:Brevity": {"weight": 0.5,
                                                                            "options": {"max_words": 2}}})
    assert [f.__name__ for f in funcs] == ["format", "brevity"] and weights == [1.0, 0.5]
    assert funcs[1](completions=[output("Helsby."), output("It is in Helsby today.")]) \
        == [1.0, pytest.approx(0.5)]
    with pytest.raises(KeyError, match="cannot import reward 'custom_reward:Missing'"):
        get_reward("custom_reward:Missing")
    with pytest.raises(KeyError, match="is not a subclass of pleias_rl.rewards.base.Reward"):
        get_reward("custom_reward:NotAReward")
