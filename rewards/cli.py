"""``pleias-rl score INPUT.jsonl [-o OUTPUT.jsonl] [--rewards citation,format,...]``.

Writes every input row, in order, with ``"rewards"`` (one value per reward, ``null`` where it
does not apply) and ``"diagnostics"`` (per reward) added, then prints a per-reward summary table
(to standard error when the rows go to standard output). A malformed line is reported with its
line number and skipped; the exit code is then 1. Import-light: no torch, transformers or trl.
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence, TextIO

from pleias_rl.data.schema import BadLine, RowError, read_jsonl, validate_row, write_jsonl_line
from pleias_rl.rewards.base import Reward
from pleias_rl.rewards.registry import REGISTRY, build_rewards


@dataclass
class RewardSummary:
    """Running statistics of one reward over the scored rows.

    >>> s = RewardSummary(); s.add(1.0); s.add(0.5); s.add(None); s.row()
    ('2', '1', '0.750', '0.500', '1.000')
    """

    values: list[float] = field(default_factory=list)
    not_applicable: int = 0

    def add(self, score: float | None) -> None:
        """Record one score (``None``: the reward did not apply)."""
        if score is None:
            self.not_applicable += 1
        else:
            self.values.append(score)

    def row(self) -> tuple[str, ...]:
        """Count scored, count not applicable, mean, min, max as table cells."""
        if not self.values:
            return str(0), str(self.not_applicable), "-", "-", "-"
        mean = sum(self.values) / len(self.values)
        return (str(len(self.values)), str(self.not_applicable), f"{mean:.3f}",
                f"{min(self.values):.3f}", f"{max(self.values):.3f}")


def summary_table(summaries: Mapping[str, RewardSummary], rows: int, skipped: int) -> str:
    """Render the per-reward summary table.

    >>> s = RewardSummary(); s.add(0.25)
    >>> print(summary_table({"format": s}, rows=1, skipped=0))
    reward       scored   n/a    mean     min     max
    format            1     0   0.250   0.250   0.250
    1 rows written, 0 malformed lines skipped
    """
    header = f"{'reward':<10} {'scored':>8} {'n/a':>5} {'mean':>7} {'min':>7} {'max':>7}"
    lines = [header]
    for name, summary in summaries.items():
        scored, missing, mean, low, high = summary.row()
        lines.append(f"{name:<10} {scored:>8} {missing:>5} {mean:>7} {low:>7} {high:>7}")
    lines.append(f"{rows} rows written, {skipped} malformed lines skipped")
    return "\n".join(lines)


def plain_json(value: Any) -> Any:
    """Diagnostics made JSON-safe (tuples to lists, unknown objects to strings).

    >>> plain_json({"span": (1, 2), "x": object})["span"]
    [1, 2]
    """
    return json.loads(json.dumps(value, default=str))


def score_row(row: Mapping[str, Any], rewards: Sequence[Reward]) -> dict[str, Any]:
    """The row with ``rewards`` and ``diagnostics`` added (rewards ``None`` without completion).

    >>> from pleias_rl.rewards.registry import get_reward
    >>> out = score_row({"query": "q", "sources": ["s"]}, [get_reward("format")])
    >>> out["rewards"], out["diagnostics"]
    ({'format': None}, {'format': {'reason': 'no completion'}})
    """
    scores: dict[str, float | None] = {}
    diagnostics: dict[str, Any] = {}
    for reward in rewards:
        if row.get("completion") is None:
            scores[reward.name], diagnostics[reward.name] = None, {"reason": "no completion"}
        else:
            scores[reward.name], diagnostics[reward.name] = reward.explain(row["completion"], row)
    return {**row, "rewards": scores, "diagnostics": plain_json(diagnostics)}


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Parse the ``score`` command line.

    >>> parse_args(["in.jsonl", "--rewards", "format,language"]).rewards
    'format,language'
    """
    parser = argparse.ArgumentParser(
        prog="pleias-rl score",
        description="Score completions in a JSON Lines file with the registered rewards.")
    parser.add_argument("input", help="JSON Lines file of RAG examples with a completion")
    parser.add_argument("-o", "--output", default="-",
                        help="output JSON Lines file (default: standard output)")
    parser.add_argument("--rewards", default=",".join(REGISTRY),
                        help=f"comma-separated reward names (default: {','.join(REGISTRY)})")
    return parser.parse_args(list(argv))


def row_problem(row: dict[str, Any] | BadLine, where: str) -> str | None:
    """Why a line read from the input cannot be scored, or ``None`` when it is a valid row.

    >>> row_problem({"query": "q"}, "in.jsonl:3")
    'in.jsonl:3: field sources: must be a list of strings or objects with text'
    >>> row_problem({"query": "q", "sources": []}, "in.jsonl:4") is None
    True
    """
    if isinstance(row, BadLine):
        return str(row)
    try:
        validate_row(row, where=where)
    except RowError as error:
        return str(error)
    return None


def score_file(path: str, out: TextIO, rewards: Sequence[Reward],
               errors: TextIO) -> tuple[dict[str, RewardSummary], int, int]:
    """Score every row of ``path`` into ``out``; report bad lines on ``errors``.

    Returns the summaries, the number of rows written and of lines skipped.

    >>> import io, tempfile
    >>> from pleias_rl.rewards.registry import get_reward
    >>> with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
    ...     _ = f.write('{"query": "q", "sources": ["s"], "completion": "x"}\\n[1]\\n')
    >>> out, errors = io.StringIO(), io.StringIO()
    >>> summaries, written, skipped = score_file(f.name, out, [get_reward("format")], errors)
    >>> written, skipped, errors.getvalue().endswith(":2: not a JSON object\\n")
    (1, 1, True)
    """
    summaries = {reward.name: RewardSummary() for reward in rewards}
    scored = skipped = 0
    for number, row in read_jsonl(path, validate=False):
        problem = row_problem(row, f"{path}:{number}")
        if problem is not None:
            print(f"skipped {problem}", file=errors)
            skipped += 1
            continue
        result = score_row(row, rewards)
        for name, value in result["rewards"].items():
            summaries[name].add(value)
        write_jsonl_line(out, result)
        scored += 1
    return summaries, scored, skipped


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``pleias-rl score``; 0 on success, 1 if any line was skipped, 2 on usage errors.

    >>> main(["no/such/file.jsonl", "--rewards", "format"])
    2
    """
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        rewards, _ = build_rewards(args.rewards)
    except (KeyError, ValueError) as error:
        print(f"pleias-rl score: {error.args[0] if error.args else error}", file=sys.stderr)
        return 2
    to_stdout = args.output == "-"
    try:
        with (nullcontext(sys.stdout) if to_stdout
              else open(args.output, "w", encoding="utf-8")) as out:
            summaries, scored, skipped = score_file(args.input, out, rewards, sys.stderr)
    except OSError as error:
        print(f"pleias-rl score: {error}", file=sys.stderr)
        return 2
    print(summary_table(summaries, scored, skipped), file=sys.stderr if to_stdout else sys.stdout)
    return 1 if skipped else 0
