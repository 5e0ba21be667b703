"""Models trained one after the other, evaluated on the same held-out prompts, compared with
intervals: each stage's reward means (95% bootstrap intervals) and the paired difference against
the stage before it, with one plain sentence per stage.

Input: each stage's per-prompt records (``eval/<stage>/scores.jsonl``: ``id`` and ``rewards``).
Output: a :class:`StageComparison`, written as ``results.json`` (:meth:`StageComparison.as_dict`),
``results.md`` (:func:`render_markdown`) and a bar plot with error bars
(:func:`pleias_rl.evaluation.plots.interval_bars`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from pleias_rl.evaluation.stats import Interval, bootstrap_mean, describe_change, paired_difference

Records = Sequence[Mapping[str, Any]]
"""Per-prompt evaluation records of one stage (each with ``id`` and ``rewards``)."""


@dataclass(frozen=True)
class StageResult:
    """One stage: each reward's mean with its interval, and its paired change against the
    previous stage (``None`` for the first stage).

    >>> StageResult("base", {"format": Interval(0.5, 0.4, 0.6, 60)}, None).names
    ['format']
    """

    stage: str
    means: dict[str, Interval]
    changes: dict[str, Interval] | None

    @property
    def names(self) -> list[str]:
        """The rewards measured on this stage."""
        return list(self.means)


@dataclass(frozen=True)
class StageComparison:
    """Every stage in order, on ``n`` held-out prompts.

    >>> comparison = compare_stages({"a": [{"id": "1", "rewards": {"format": 0.0}}],
    ...                              "b": [{"id": "1", "rewards": {"format": 1.0}}]})
    >>> comparison.as_dict()["stages"]["b"]["change"]["format"]["mean"]
    1.0
    """

    stages: list[StageResult]
    n: int
    seed: int

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (``results.json``)."""
        return {"n": self.n, "seed": self.seed, "interval": "95% percentile bootstrap over prompts",
                "stages": {result.stage: {
                    "means": {name: value.as_dict() for name, value in result.means.items()},
                    "change": None if result.changes is None else
                    {name: value.as_dict() for name, value in result.changes.items()},
                    "summary": stage_sentence(result)} for result in self.stages}}


def reward_values(records: Records, name: str) -> dict[str, float]:
    """``{prompt id: value}`` of one reward, leaving out prompts where it does not apply.

    >>> reward_values([{"id": "a", "rewards": {"answer": None}}, {"id": "b", "rewards": {"answer": 0.5}}], "answer")
    {'b': 0.5}
    """
    return {str(record["id"]): float(record["rewards"][name]) for record in records
            if record["rewards"].get(name) is not None}


def compare_stages(records_by_stage: Mapping[str, Records], seed: int = 0) -> StageComparison:
    """Intervals of every reward per stage and paired changes between consecutive stages.

    All stages must be scored on the same prompt ids (else a ``ValueError`` names the stage);
    a change is measured on the prompts where the reward applies in both stages.

    >>> low = [{"id": str(i), "rewards": {"citation": 0.2}} for i in range(60)]
    >>> high = [{"id": str(i), "rewards": {"citation": 0.2 + (i % 3) / 10}} for i in range(60)]
    >>> stage = compare_stages({"sft": low, "grpo": high}).stages[1]
    >>> round(stage.changes["citation"].mean, 3), stage.changes["citation"].significant
    (0.1, True)
    """
    stages = list(records_by_stage)
    if not stages:
        raise ValueError("no stage to compare")
    ids = sorted(str(record["id"]) for record in records_by_stage[stages[0]])
    results: list[StageResult] = []
    for index, stage in enumerate(stages):
        records = records_by_stage[stage]
        if sorted(str(record["id"]) for record in records) != ids:
            raise ValueError(f"stage {stage!r} was not scored on the same prompts as {stages[0]!r}")
        names = list(dict.fromkeys(name for record in records for name in record["rewards"]))
        values = {name: reward_values(records, name) for name in names}
        means = {name: bootstrap_mean(list(v.values()), seed) for name, v in values.items() if v}
        changes = None
        if index:
            previous = records_by_stage[stages[index - 1]]
            changes = {name: _change(values[name], reward_values(previous, name), seed)
                       for name in means if reward_values(previous, name)}
        results.append(StageResult(stage, means, changes))
    return StageComparison(results, len(ids), seed)


def _change(after: Mapping[str, float], before: Mapping[str, float], seed: int) -> Interval:
    shared = sorted(set(after) & set(before))
    return paired_difference([after[key] for key in shared], [before[key] for key in shared], seed)


def stage_sentence(result: StageResult) -> str:
    """One plain sentence on what changed significantly at this stage and what did not.

    >>> print(stage_sentence(StageResult("sft", {}, {"format": Interval(0.4, 0.3, 0.5, 60),
    ...                                              "citation": Interval(0.0, -0.1, 0.1, 60)})))
    sft: format rose by 0.400 (95% CI 0.300 to 0.500); citation did not change significantly.
    >>> stage_sentence(StageResult("base", {}, None))
    'base: the starting point (no earlier stage to compare with).'
    """
    if result.changes is None:
        return f"{result.stage}: the starting point (no earlier stage to compare with)."
    changed = [describe_change(name, value) for name, value in result.changes.items() if value.significant]
    unchanged = [name for name, value in result.changes.items() if not value.significant]
    if not changed:
        return f"{result.stage}: no reward changed significantly ({', '.join(unchanged)})."
    text = "; ".join(changed)
    if unchanged:
        text += f"; {', '.join(unchanged)} did not change significantly"
    return f"{result.stage}: {text}."


def render_markdown(comparison: StageComparison, plot: str | None = None) -> str:
    """``results.md``: means with intervals, paired changes, one sentence per stage.

    >>> comparison = compare_stages({"a": [{"id": "1", "rewards": {"format": 0.0}}],
    ...                              "b": [{"id": "1", "rewards": {"format": 1.0}}]})
    >>> print(render_markdown(comparison).splitlines()[4])
    | format | 0.000 [0.000, 0.000] | 1.000 [1.000, 1.000] |
    """
    stages = [result.stage for result in comparison.stages]
    names = list(dict.fromkeys(name for result in comparison.stages for name in result.names))
    lines = [f"Reward means on n = {comparison.n} held-out prompts, with 95% bootstrap intervals "
             "(prompts resampled; a reward counts only the prompts where it applies).", "",
             "| reward | " + " | ".join(stages) + " |", "|---" * (len(stages) + 1) + "|"]
    for name in names:
        cells = [_interval_cell(result.means.get(name)) for result in comparison.stages]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    later = [result for result in comparison.stages if result.changes is not None]
    if later:
        lines += ["", "Paired change against the previous stage (mean of per-prompt differences, "
                      "95% bootstrap interval; * = the interval excludes 0):", "",
                  "| reward | " + " | ".join(f"{r.stage} - prev" for r in later) + " |",
                  "|---" * (len(later) + 1) + "|"]
        for name in names:
            cells = [change_cell((result.changes or {}).get(name)) for result in later]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", *(f"- {stage_sentence(result)}" for result in comparison.stages)]
    if plot:
        lines += ["", f"![reward means with 95% intervals]({plot})"]
    return "\n".join(lines) + "\n"


def _interval_cell(value: Interval | None) -> str:
    return "n/a" if value is None else f"{value.mean:.3f} [{value.low:.3f}, {value.high:.3f}]"


def change_cell(value: Interval | None) -> str:
    """A table cell for a paired change: mean, interval, ``*`` when it excludes 0, and n.

    >>> change_cell(Interval(0.1, 0.02, 0.2, 60)), change_cell(None)
    ('+0.100 [+0.020, +0.200]* (n=60)', 'n/a')
    """
    if value is None:
        return "n/a"
    return f"{value.mean:+.3f} [{value.low:+.3f}, {value.high:+.3f}]{'*' if value.significant else ''} (n={value.n})"
