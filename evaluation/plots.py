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
                 series: Mapping[str, Sequence[float | None]], title: str) -> Path:
    """Save a grouped bar chart: one group per category, one bar per series (``None`` = no bar).

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
        axes.bar(positions, heights, width, label=label, color=colours(index % colours.N))
    axes.set_xticks(range(len(categories)), categories, rotation=20 if len(categories) > 6 else 0)
    axes.set_ylim(0, 1.05)
    axes.set_title(title)
    axes.legend(fontsize="small", ncol=2, loc="upper left", bbox_to_anchor=(1.0, 1.0))
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
