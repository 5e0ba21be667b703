"""``pleias-rl score INPUT.jsonl [-o OUTPUT.jsonl] [--rewards citation,format,...]``.

Writes every input row, in order, with ``"rewards"`` (one value per reward, ``null`` where it
does not apply) and ``"diagnostics"`` (per reward) added, then prints a per-reward summary table
(to standard error when the rows go to standard output). A line that cannot be scored (invalid
UTF-8 or JSON, a lone surrogate, a schema error...) is reported as ``FILE:LINE: problem`` and
skipped; every other row is written. ``--workers N`` scores in N processes, with the same
output in the same order. The output is written to ``OUTPUT.partial`` and renamed at the end;
an output that is the input is refused. Exit codes: :mod:`pleias_rl.data.exit_codes` (0 ok, 1
lines skipped, 2 usage). Import-light: no torch, transformers or trl.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
from collections import deque
from contextlib import nullcontext
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Iterable, Iterator, Mapping, Sequence, TextIO

from pleias_rl.data.exit_codes import EXIT_CODE_HELP, ExitCode
from pleias_rl.data.jsonl import BadLine, OverwriteError, atomic_output, decode_line, dumps_line, raw_lines
from pleias_rl.data.schema import RowError, validate_row
from pleias_rl.rewards.base import Reward, explain_all
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
    if row.get("completion") is None:
        explained = {reward.name: (None, {"reason": "no completion"}) for reward in rewards}
    else:  # one parse and one row context shared by every reward
        explained = explain_all(rewards, row["completion"], row)
    scores = {name: score for name, (score, _) in explained.items()}
    diagnostics = {name: details for name, (_, details) in explained.items()}
    return {**row, "rewards": scores, "diagnostics": plain_json(diagnostics)}


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Parse the ``score`` command line.

    >>> parse_args(["in.jsonl", "--rewards", "format,language"]).rewards
    'format,language'
    """
    parser = argparse.ArgumentParser(
        prog="pleias-rl score", epilog=EXIT_CODE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Score completions in a JSON Lines file with the registered rewards.")
    parser.add_argument("input", help="JSON Lines file of RAG examples with a completion")
    parser.add_argument("-o", "--output", default="-",
                        help="output JSON Lines file (default: standard output; never the input)")
    parser.add_argument("--rewards", default=",".join(REGISTRY),
                        help=f"comma-separated reward names (default: {','.join(REGISTRY)})")
    parser.add_argument("--workers", type=positive_int, default=1,
                        help="processes scoring in parallel (same output, same order; default 1)")
    return parser.parse_args(list(argv))


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1.

    >>> positive_int("3")
    3
    """
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def row_problem(row: Any, where: str) -> str | None:
    """Why a line read from the input cannot be scored, or ``None`` when it is a valid row.

    >>> row_problem({"query": "q"}, "in.jsonl:3")
    'in.jsonl:3: field sources: must be a list of strings or objects with text'
    >>> row_problem([1], "in.jsonl:4")
    'in.jsonl:4: not a JSON object (got list)'
    >>> row_problem({"query": "q", "sources": []}, "in.jsonl:5") is None
    True
    """
    if isinstance(row, BadLine):
        return str(row)
    if not isinstance(row, dict):
        return f"{where}: not a JSON object (got {type(row).__name__})"
    try:
        validate_row(row, where=where)
    except RowError as error:
        return str(error)
    return None


@dataclass(frozen=True)
class ScoredLine:
    """One input line after scoring: its output line, or the problem that skipped it."""

    number: int
    output: str | None
    problem: str | None
    scores: Mapping[str, float | None]


def score_line(path: str, number: int, raw: bytes, rewards: Sequence[Reward]) -> ScoredLine:
    """Decode, check and score one input line.

    >>> from pleias_rl.rewards.registry import get_reward
    >>> score_line("in.jsonl", 7, b"\\xff", [get_reward("format")]).problem
    'in.jsonl:7: not valid UTF-8 (byte 0xff at column 1)'
    >>> score_line("in.jsonl", 8, b'{"query": "q", "sources": []}', [get_reward("format")]).scores
    {'format': None}
    """
    row = decode_line(raw, path, number)
    problem = row_problem(row, f"{path}:{number}")
    if problem is not None:
        return ScoredLine(number, None, problem, {})
    result = score_row(row, rewards)
    return ScoredLine(number, dumps_line(result), None, result["rewards"])


def score_chunk(path: str, chunk: Sequence[tuple[int, bytes]], rewards: Sequence[Reward]) -> list[ScoredLine]:
    """:func:`score_line` over a chunk of ``(line_number, bytes)``."""
    return [score_line(path, number, raw, rewards) for number, raw in chunk]


_WORKER_REWARDS: list[Reward] = []
"""The rewards of a worker process, built once by :func:`_start_worker`."""


def _start_worker(spec: str) -> None:
    _WORKER_REWARDS[:] = build_rewards(spec)[0]


def _score_chunk_in_worker(path: str, chunk: Sequence[tuple[int, bytes]]) -> list[ScoredLine]:
    return score_chunk(path, chunk, _WORKER_REWARDS)


def chunks(lines: Iterable[tuple[int, bytes]], size: int) -> Iterator[list[tuple[int, bytes]]]:
    """Consecutive lists of at most ``size`` lines.

    >>> [len(c) for c in chunks(((n, b"") for n in range(5)), 2)]
    [2, 2, 1]
    """
    iterator = iter(lines)
    while chunk := list(islice(iterator, size)):
        yield chunk


CHUNK_LINES = 128
"""Lines a worker scores per task (large enough to amortise the inter-process transfer)."""


def scored_lines(path: str, spec: str, rewards: Sequence[Reward], workers: int = 1) -> Iterator[ScoredLine]:
    """Every non-blank line of ``path`` scored, in input order, by ``workers`` processes.

    At most two chunks per worker are in flight, so memory stays flat whatever the file size.

    >>> import tempfile
    >>> from pleias_rl.rewards.registry import get_reward
    >>> path = tempfile.NamedTemporaryFile(delete=False).name
    >>> _ = open(path, "w").write('{"query": "q", "sources": [], "completion": "x"}\\n' * 3)
    >>> def outputs(workers):
    ...     return [line.output for line in scored_lines(path, "format", [get_reward("format")], workers)]
    >>> len(outputs(2)), outputs(2) == outputs(1)
    (3, True)
    """
    pieces = chunks(raw_lines(path), CHUNK_LINES)
    if workers <= 1:
        for chunk in pieces:
            yield from score_chunk(path, chunk, rewards)
        return
    with multiprocessing.Pool(workers, initializer=_start_worker, initargs=(spec,)) as pool:
        pending: deque[Any] = deque()
        for chunk in pieces:
            pending.append(pool.apply_async(_score_chunk_in_worker, (path, chunk)))
            if len(pending) >= 2 * workers:
                yield from pending.popleft().get()
        while pending:
            yield from pending.popleft().get()


def score_file(path: str, out: TextIO, rewards: Sequence[Reward], errors: TextIO, *,
               spec: str = "", workers: int = 1) -> tuple[dict[str, RewardSummary], int, int]:
    """Score every row of ``path`` into ``out``; report bad lines on ``errors``.

    ``spec`` names the rewards again for worker processes (``workers`` > 1). Returns the
    summaries, the number of rows written and of lines skipped.

    >>> import io, tempfile
    >>> from pleias_rl.rewards.registry import get_reward
    >>> with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
    ...     _ = f.write('{"query": "q", "sources": ["s"], "completion": "x"}\\n[1]\\n')
    >>> out, errors = io.StringIO(), io.StringIO()
    >>> summaries, written, skipped = score_file(f.name, out, [get_reward("format")], errors)
    >>> written, skipped, errors.getvalue().endswith(":2: not a JSON object (got list)\\n")
    (1, 1, True)
    """
    summaries = {reward.name: RewardSummary() for reward in rewards}
    scored = skipped = 0
    for line in scored_lines(path, spec, rewards, workers):
        if line.output is None:
            print(f"skipped {line.problem}", file=errors)
            skipped += 1
            continue
        for name, value in line.scores.items():
            summaries[name].add(value)
        out.write(line.output)
        scored += 1
    return summaries, scored, skipped


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``pleias-rl score``; 0 on success, 1 if any line was skipped, 2 on usage errors.

    >>> main(["no/such/file.jsonl", "--rewards", "format"])
    <ExitCode.USAGE: 2>
    """
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        rewards, _ = build_rewards(args.rewards)
    except (KeyError, ValueError) as error:
        print(f"pleias-rl score: {error.args[0] if error.args else error}", file=sys.stderr)
        return ExitCode.USAGE
    to_stdout = args.output == "-"
    try:
        with (nullcontext(sys.stdout) if to_stdout else atomic_output(args.output, [args.input])) as out:
            summaries, scored, skipped = score_file(args.input, out, rewards, sys.stderr,
                                                    spec=args.rewards, workers=args.workers)
    except (OSError, OverwriteError) as error:
        print(f"pleias-rl score: {error}", file=sys.stderr)
        return ExitCode.USAGE
    print(summary_table(summaries, scored, skipped), file=sys.stderr if to_stdout else sys.stdout)
    return ExitCode.SKIPPED if skipped else ExitCode.OK
