"""Citation reward targets (issue #2) on examples built from the shipped real HotpotQA records.

Honest completions quote the gold supporting sentences (:func:`pleias_rl.data.targets.oracle_completion`);
corrupted ones come from :func:`pleias_rl.data.corruptions.citation_cases`. Prints the mean citation score
per category next to its target and exits non-zero if a target is missed.

    python benchmarks/citation_targets.py [--limit 100] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from statistics import mean
from typing import Any, Callable, Mapping, Sequence

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pleias_rl.data.corruptions import citation_cases  # noqa: E402
from pleias_rl.data.readers import read_hotpotqa  # noqa: E402
from pleias_rl.rewards.citation import CitationReward  # noqa: E402

SAMPLE = REPO / "data" / "samples" / "raw" / "hotpotqa_train_sample100.json"
HONEST = ("honest_trivial", "honest_full", "honest_elided", "honest_long", "honest_typography")
ALL_BAD = ("fabricated", "wrong_source", "query_copy", "tiny_fragments")
ONE_BAD = ("changed_digit", "out_of_order", "padded_fabricated", "padded_wrong_source",
           "padded_query_copy", "padded_tiny_fragments", "padded_changed_digit",
           "padded_out_of_order")

Scores = Mapping[str, Sequence[float]]


def hotpot_rows(limit: int | None = None) -> list[dict[str, Any]]:
    """The shipped HotpotQA records as RAG examples (the first ``limit`` of them).

    >>> len(hotpot_rows(3))
    3
    """
    rows = list(read_hotpotqa(json.loads(SAMPLE.read_text(encoding="utf-8"))))
    return rows[:limit] if limit else rows


def score_cases(rows: Sequence[Mapping[str, Any]], seed: int = 0,
                reward: CitationReward | None = None) -> dict[str, list[float]]:
    """Citation scores of every honest and corrupted category built from ``rows``.

    >>> scores = score_cases(hotpot_rows(2))
    >>> scores["honest_trivial"], scores["fabricated"]
    ([1.0, 1.0], [0.0, 0.0])
    """
    reward = reward or CitationReward()
    return {category: [reward.explain(completion, row)[0] or 0.0 for completion, row in pairs]
            for category, pairs in citation_cases(rows, seed).items()}


def auc(positives: Sequence[float], negatives: Sequence[float]) -> float:
    """Probability that a random positive outscores a random negative (ties count half).

    >>> auc([1.0, 0.9], [0.0, 0.9])
    0.875
    """
    if not positives or not negatives:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def _mean(values: Sequence[float]) -> float:
    return mean(values) if values else float("nan")


def _pooled(scores: Scores, names: Sequence[str]) -> list[float]:
    return [value for name in names for value in scores.get(name, [])]


def targets(scores: Scores) -> list[tuple[str, float, str, bool]]:
    """Each issue target as ``(what, measured, target, met)``.

    >>> met = [row[3] for row in targets(score_cases(hotpot_rows(5)))]
    >>> all(met)
    True
    """
    rows: list[tuple[str, float, str, bool]] = []

    def check(what: str, value: float, text: str, test: Callable[[float], bool]) -> None:
        rows.append((what, value, text, value == value and test(value)))

    for name in ("honest_trivial", "honest_full", "honest_long", "honest_typography"):
        check(f"{name} mean", _mean(scores[name]), ">= 0.95", lambda v: v >= 0.95)
    check("honest_elided mean", _mean(scores["honest_elided"]), ">= 0.85", lambda v: v >= 0.85)
    for name in ALL_BAD:
        check(f"{name} mean", _mean(scores[name]), "<= 0.3 (aim 0.2)", lambda v: v <= 0.3)
    for name in ONE_BAD:
        check(f"{name} max", max(scores[name], default=float("nan")), "<= 0.5", lambda v: v <= 0.5)
    focused = _mean(scores["honest_trivial"])
    check("source_dump mean", _mean(scores["source_dump"]), f"<= focused/2 = {focused / 2:.2f}",
          lambda v: v <= focused / 2)
    fabricated = _mean(scores["fabricated"])
    check("paraphrase mean", _mean(scores["paraphrase"]),
          f"in ({fabricated:.2f}, {focused:.2f})", lambda v: fabricated < v < focused)
    corrupted = [name for name in scores if name not in HONEST]
    check("AUC honest vs corrupted", auc(_pooled(scores, HONEST), _pooled(scores, corrupted)),
          ">= 0.99", lambda v: v >= 0.99)
    return rows


def report(scores: Scores) -> str:
    """The per-category table of scores, then the target table.

    >>> "honest_trivial" in report(score_cases(hotpot_rows(2)))
    True
    """
    lines = [f"{'category':<26}{'n':>5}{'mean':>8}{'min':>8}{'max':>8}"]
    for name, values in scores.items():
        if values:
            lines.append(f"{name:<26}{len(values):>5}{mean(values):>8.3f}{min(values):>8.3f}"
                         f"{max(values):>8.3f}")
        else:
            lines.append(f"{name:<26}{0:>5}{'(no example)':>24}")
    return "\n".join(lines + [""] + target_lines(targets(scores)))


def target_lines(rows: Sequence[tuple[str, float, str, bool]], width: int = 30) -> list[str]:
    """The target table: a header, then one line per ``(what, measured, wanted, met)``.

    >>> target_lines([("honest mean", 1.0, ">= 0.95", True)])[1].split()
    ['honest', 'mean', '1.000', '>=', '0.95', 'yes']
    """
    lines = [f"{'target':<{width}}{'measured':>10}  {'wanted':<24}ok"]
    for what, value, wanted, met in rows:
        lines.append(f"{what:<{width}}{value:>10.3f}  {wanted:<24}{'yes' if met else 'NO'}")
    return lines


def print_verdict(rows: Sequence[tuple[str, float, str, bool]]) -> int:
    """Print whether every target is met (or which are missed); the exit status, 1 on a miss.

    >>> print_verdict([("honest mean", 0.5, ">= 0.95", False)])
    <BLANKLINE>
    MISSED: honest mean
    1
    """
    missed = [what for what, _, _, met in rows if not met]
    print("\nall targets met" if not missed else f"\nMISSED: {', '.join(missed)}")
    return 1 if missed else 0


def main(argv: list[str] | None = None) -> int:
    """Print the tables; return 1 if a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="use the first N records")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rows = hotpot_rows(args.limit)
    scores = score_cases(rows, args.seed)
    print(f"citation reward on {len(rows)} real HotpotQA records ({SAMPLE.name})\n")
    print(report(scores))
    return print_verdict(targets(scores))


if __name__ == "__main__":
    sys.exit(main())
