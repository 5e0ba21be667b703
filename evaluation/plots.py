"""PNG plots of an evaluation (matplotlib, Agg backend: no display needed).

- ``reward_distributions.png``: a histogram per reward (rows where it applies);
- ``per_language.png`` and ``per_dataset.png``: grouped bars of accuracy and reward means;
- ``compare.png`` (``--compare``): the headline measures of several runs side by side.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

from pleias_rl.evaluation.report import GROUP_COLUMNS_LEFT_OUT, headline

RATE_LABELS_EXCLUDED: frozenset[str] = frozenset({"n", *GROUP_COLUMNS_LEFT_OUT})
"""Headline measures left out of the bar plots: counts, lengths (not in [0, 1]), EM and F1."""

MAX_WIDTH_INCHES = 14.0
"""Widest figure drawn (the legend sits outside the axes on the right)."""


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def grouped_bars(path: str | Path, categories: Sequence[str],
                 series: Mapping[str, Sequence[float | None]], title: str,
                 errors: Mapping[str, Sequence[tuple[float, float] | None]] | None = None) -> Path:
    """Save a grouped bar chart: one group per category, one bar per series (``None`` = no bar);
    ``errors`` gives each bar's ``(low, high)`` interval, drawn as an error bar.

    >>> import tempfile, os
    >>> path = grouped_bars(os.path.join(tempfile.mkdtemp(), "b.png"), ["en", "fr"],
    ...                     {"accuracy": [0.9, 0.7], "format": [1.0, None]}, "demo")
    >>> path.stat().st_size > 1000
    True
    """
    plt = _pyplot()
    width = 0.8 / max(1, len(series))
    size = min(MAX_WIDTH_INCHES, max(6.0, 0.9 * len(categories) * max(1, len(series)) ** 0.5 + 3))
    figure, axes = plt.subplots(figsize=(size, 4.5))
    colours = plt.get_cmap("tab10" if len(series) <= 10 else "tab20")
    for index, (label, values) in enumerate(series.items()):
        positions = [c + (index - (len(series) - 1) / 2) * width for c in range(len(categories))]
        heights = [math.nan if v is None else v for v in values]
        axes.bar(positions, heights, width, label=label, color=colours(index % colours.N),
                 yerr=_error_bars(heights, (errors or {}).get(label)), capsize=2)
    axes.set_xticks(range(len(categories)), categories, rotation=20 if len(categories) > 6 else 0)
    axes.set_ylim(0, 1.05)
    axes.set_title(title)
    axes.legend(fontsize="small", ncol=2, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return Path(path)


def _error_bars(heights: Sequence[float],
                intervals: Sequence[tuple[float, float] | None] | None) -> list[list[float]] | None:
    """Matplotlib's ``yerr`` (distances below and above each bar) from ``(low, high)`` bounds.

    >>> _error_bars([0.5, math.nan], [(0.4, 0.7), None])
    [[0.09999999999999998, 0.0], [0.19999999999999996, 0.0]]
    """
    if intervals is None:
        return None
    below = [0.0 if bound is None or math.isnan(h) else h - bound[0] for h, bound in zip(heights, intervals)]
    above = [0.0 if bound is None or math.isnan(h) else bound[1] - h for h, bound in zip(heights, intervals)]
    return [below, above]


def interval_bars(path: str | Path, comparison: Any) -> Path:
    """Bars of each stage's reward means with their 95% intervals as error bars (a
    :class:`pleias_rl.evaluation.stages.StageComparison`).

    >>> import tempfile, os
    >>> from pleias_rl.evaluation.stages import compare_stages
    >>> comparison = compare_stages({s: [{"id": "1", "rewards": {"format": v}}] for s, v in (("a", 0.2), ("b", 0.9))})
    >>> interval_bars(os.path.join(tempfile.mkdtemp(), "r.png"), comparison).stat().st_size > 1000
    True
    """
    names = list(dict.fromkeys(name for result in comparison.stages for name in result.names))
    means = {result.stage: [_mean_of(result.means.get(name)) for name in names] for result in comparison.stages}
    bounds = {result.stage: [None if result.means.get(name) is None else
                             (result.means[name].low, result.means[name].high) for name in names]
              for result in comparison.stages}
    return grouped_bars(path, names, means, f"Reward means, 95% intervals (n = {comparison.n})", bounds)


def _mean_of(interval: Any) -> float | None:
    return None if interval is None else interval.mean


def step_curves(path: str | Path, steps: Sequence[int], series: Mapping[str, Sequence[float | None]],
                title: str) -> Path:
    """Save a line plot of per-step values (one line per series; ``None`` = no point).

    >>> import tempfile, os
    >>> step_curves(os.path.join(tempfile.mkdtemp(), "c.png"), [1, 2, 3],
    ...             {"citation": [0.1, 0.2, None]}, "GRPO").stat().st_size > 1000
    True
    """
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(8, 4.5))
    for label, values in series.items():
        axes.plot(steps, [math.nan if v is None else v for v in values], marker=".", label=label)
    axes.set_xlabel("step")
    axes.set_title(title)
    axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return Path(path)


def reward_distributions(path: str | Path, records: Sequence[Mapping[str, Any]]) -> Path | None:
    """Save one histogram per reward over the rows where it applies; ``None`` without rewards.

    >>> import tempfile, os
    >>> records = [{"rewards": {"format": 1.0, "answer": None}}, {"rewards": {"format": 0.5, "answer": 0.2}}]
    >>> reward_distributions(os.path.join(tempfile.mkdtemp(), "r.png"), records).name
    'r.png'
    """
    names = sorted({name for record in records for name in record.get("rewards", {})})
    if not names:
        return None
    plt = _pyplot()
    columns = min(3, len(names))
    rows = math.ceil(len(names) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3 * rows), squeeze=False)
    for index, name in enumerate(names):
        ax = axes[index // columns][index % columns]
        values = [r["rewards"][name] for r in records if r.get("rewards", {}).get(name) is not None]
        ax.hist(values, bins=20, range=(0.0, 1.0), color="tab:blue")
        ax.set_title(f"{name} (n={len(values)})", fontsize="medium")
        ax.set_xlim(0, 1)
    for index in range(len(names), rows * columns):
        axes[index // columns][index % columns].axis("off")
    figure.suptitle("Reward distributions")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return Path(path)


def group_bars(path: str | Path, groups: Mapping[str, Mapping[str, Any]], title: str) -> Path | None:
    """Grouped bars of the [0, 1] headline measures of each group; ``None`` when there is none.

    >>> import tempfile, os
    >>> groups = {"en": {"n": 3, "rewards": {"format": 1.0}}, "fr": {"n": 1, "rewards": {"format": 0.5}}}
    >>> group_bars(os.path.join(tempfile.mkdtemp(), "g.png"), groups, "per language").name
    'g.png'
    """
    measures = {key: headline(group) for key, group in groups.items()}
    labels = [label for label in next(iter(measures.values()), {})
              if label not in RATE_LABELS_EXCLUDED and any(m.get(label) is not None for m in measures.values())]
    if not labels:
        return None
    categories = [f"{key} (n={measures[key]['n']})" for key in measures]
    return grouped_bars(path, categories, {label: [m.get(label) for m in measures.values()]
                                           for label in labels}, title)


def write_run_plots(out_dir: str | Path, summary: Mapping[str, Any],
                    records: Sequence[Mapping[str, Any]]) -> list[str]:
    """Write the plots of one run into ``out_dir``; return the file names written.

    >>> import tempfile
    >>> from pleias_rl.evaluation.metrics import summarise
    >>> records = [{"language": "en", "dataset": "hotpotqa", "rewards": {"format": 1.0}}]
    >>> write_run_plots(tempfile.mkdtemp(), summarise(records), records)
    ['reward_distributions.png', 'per_language.png', 'per_dataset.png']
    """
    out = Path(out_dir)
    written = [reward_distributions(out / "reward_distributions.png", records),
               group_bars(out / "per_language.png", summary.get("per_language") or {}, "Per language"),
               group_bars(out / "per_dataset.png", summary.get("per_dataset") or {}, "Per dataset")]
    return [path.name for path in written if path is not None]


def compare_plot(path: str | Path, labels: Sequence[str],
                 summaries: Sequence[Mapping[str, Any]]) -> Path | None:
    """One plot of several runs: a group per [0, 1] headline measure, a bar per run.

    >>> import tempfile, os
    >>> from pleias_rl.evaluation.metrics import summarise
    >>> runs = [summarise([{"rewards": {"format": v}}]) for v in (0.4, 0.8)]
    >>> compare_plot(os.path.join(tempfile.mkdtemp(), "c.png"), ["before", "after"], runs).name
    'c.png'
    """
    measures = [headline(summary["overall"]) for summary in summaries]
    names: list[str] = []
    for run in measures:
        names += [n for n in run if n not in names and n not in RATE_LABELS_EXCLUDED]
    names = [n for n in names if any(run.get(n) is not None for run in measures)]
    if not names:
        return None
    return grouped_bars(path, names, {label: [run.get(n) for n in names]
                                      for label, run in zip(labels, measures)}, "Runs compared")
