"""``report.md`` and ``report.png`` of a critic-loop output directory.

Built from the ledger (``examples.jsonl``) and ``failures.jsonl``, so a resumed run reports
every example of every run. Contents: acceptance rate, failure tally by kind, by language and
by round, reward means before and after (after = the accepted completion, or the initial one
when nothing passed), and a chart (failures by kind; reward means before/after).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Mapping, Sequence

from pleias_rl.critics.base import FAILURE_KINDS
from pleias_rl.critics.output import LEDGER, read_rows

CHART = "report.png"
"""File name of the chart written next to ``report.md``."""


def summarise(ledger: Sequence[Mapping[str, Any]], failures: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Aggregate the ledger and failures into the numbers of the report.

    >>> s = summarise([{"accepted": True, "initially_passed": False, "rewards_before": {"format": 0.5},
    ...                 "rewards_after": {"format": 1.0}, "language": "en"},
    ...                {"accepted": False, "initially_passed": False, "rewards_before": {"format": None},
    ...                 "rewards_after": {"format": None}, "language": "fr"}],
    ...               [{"kind": "format", "round": 0, "language": "en"}])
    >>> s["n"], s["accepted"], s["corrected"], s["by_kind"], s["rewards"]["format"]
    (2, 1, 1, {'format': 1}, {'before': 0.5, 'after': 1.0, 'n': 1})
    """
    n = len(ledger)
    accepted = sum(bool(entry.get("accepted")) for entry in ledger)
    passing = sum(bool(entry.get("initially_passed")) for entry in ledger)
    names = sorted({name for entry in ledger for name in (entry.get("rewards_before") or {})})
    rewards = {name: _means(ledger, name) for name in names}
    by_language: dict[str, Counter] = {}
    for failure in failures:
        by_language.setdefault(str(failure.get("language")), Counter())[failure["kind"]] += 1
    return {
        "n": n, "accepted": accepted, "initially_passed": passing, "corrected": accepted - passing,
        "errors": sum(entry.get("error") is not None for entry in ledger),
        "revised_by": dict(Counter(entry["revised_by"] for entry in ledger
                                   if entry.get("accepted") and entry.get("revised_by")).most_common()),
        "by_kind": dict(Counter(f["kind"] for f in failures).most_common()),
        "by_round": dict(sorted(Counter(int(f["round"]) for f in failures).items())),
        "by_language": {language: dict(counts) for language, counts in sorted(by_language.items())},
        "rewards": rewards,
    }


def _means(ledger: Sequence[Mapping[str, Any]], name: str) -> dict[str, Any]:
    pairs = [((entry.get("rewards_before") or {}).get(name), (entry.get("rewards_after") or {}).get(name))
             for entry in ledger]
    pairs = [(before, after) for before, after in pairs if before is not None and after is not None]
    if not pairs:
        return {"before": None, "after": None, "n": 0}
    return {"before": round(sum(b for b, _ in pairs) / len(pairs), 4),
            "after": round(sum(a for _, a in pairs) / len(pairs), 4), "n": len(pairs)}


def render_markdown(summary: Mapping[str, Any], backend_stats: Mapping[str, Any] | None = None) -> str:
    """The report as Markdown text.

    >>> text = render_markdown(summarise([], []))
    >>> text.splitlines()[0], "Acceptance rate" in text
    ('# Critic loop report', True)
    """
    n = summary["n"]
    failing = n - summary["initially_passed"]
    lines = ["# Critic loop report", "",
             f"- Examples: {n} (initially passing: {summary['initially_passed']}, "
             f"initially failing: {failing}, not processed because of errors: {summary['errors']})",
             f"- Acceptance rate: {_rate(summary['accepted'], n)} of all examples passed every critic",
             f"- Correction rate: {_rate(summary['corrected'], failing)} of the failing examples were "
             f"repaired and verified ({summary['corrected']} SFT rows / preference pairs)",
             f"- Accepted revisions by author: "
             + (", ".join(f"{name} {count}" for name, count in summary["revised_by"].items()) or "none"),
             f"- Failures recorded: {sum(summary['by_kind'].values())}", ""]
    if backend_stats:
        lines += ["- Backend requests: " + ", ".join(f"{k} {v}" for k, v in backend_stats.items()), ""]
    lines += ["## Failures by kind", "", "| kind | count | meaning |", "|---|---:|---|"]
    lines += [f"| {kind} | {count} | {FAILURE_KINDS.get(kind, '')} |" for kind, count in summary["by_kind"].items()]
    languages = list(summary["by_language"])
    lines += ["", "## Failures by language", "", "| kind | " + " | ".join(languages) + " |",
              "|---|" + "---:|" * len(languages)]
    lines += [f"| {kind} | " + " | ".join(str(summary["by_language"][lang].get(kind, 0)) for lang in languages) + " |"
              for kind in summary["by_kind"]]
    lines += ["", "## Failures by round", "", "Round 0 is the initial completion; round r the r-th revision.",
              "", "| round | failures |", "|---:|---:|"]
    lines += [f"| {round_number} | {count} |" for round_number, count in summary["by_round"].items()]
    lines += ["", "## Reward means before and after", "",
              "After = the accepted completion, or the initial one when no revision passed.", "",
              "| reward | before | after | rows |", "|---|---:|---:|---:|"]
    lines += [f"| {name} | {_number(v['before'])} | {_number(v['after'])} | {v['n']} |"
              for name, v in summary["rewards"].items()]
    lines += ["", f"![failures and rewards]({CHART})", ""]
    return "\n".join(lines)


def _rate(part: int, whole: int) -> str:
    return f"{part / whole:.1%} ({part}/{whole})" if whole else "n/a (0/0)"


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def plot(summary: Mapping[str, Any], path: Path) -> None:
    """Write the chart: failures by kind (left), reward means before/after (right).

    >>> import tempfile; path = Path(tempfile.mkdtemp()) / "chart.png"
    >>> plot({"by_kind": {"misquote": 3}, "rewards": {"citation": {"before": 0.2, "after": 1.0, "n": 3}}}, path)
    >>> path.read_bytes()[:4]
    b'\\x89PNG'
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    kinds = list(summary["by_kind"])
    left.barh(kinds[::-1], [summary["by_kind"][k] for k in kinds[::-1]], color="#c0504d")
    left.set_title("Failures by kind")
    left.set_xlabel("count")
    names = [name for name, v in summary["rewards"].items() if v["before"] is not None]
    positions = range(len(names))
    right.bar([p - 0.2 for p in positions], [summary["rewards"][n]["before"] for n in names], 0.4, label="before")
    right.bar([p + 0.2 for p in positions], [summary["rewards"][n]["after"] for n in names], 0.4, label="after")
    right.set_xticks(list(positions), names, rotation=20)
    right.set_ylim(0, 1.05)
    right.set_title("Reward means")
    right.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def write_report(out_dir: str | Path, backend_stats: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Write ``report.md`` and ``report.png`` into ``out_dir``; return the summary.

    >>> import tempfile
    >>> write_report(tempfile.mkdtemp())["n"]
    0
    """
    out = Path(out_dir)
    summary = summarise(list(read_rows(out / LEDGER)), list(read_rows(out / "failures.jsonl")))
    plot(summary, out / CHART)
    (out / "report.md").write_text(render_markdown(summary, backend_stats), encoding="utf-8")
    return summary
