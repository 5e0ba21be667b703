"""One critic round on a model's own outputs: find its failures, repair them minimally, and keep
gold rewrites apart.

The model's completions on training prompts go through the rule critic with gold repair off
(:class:`pleias_rl.critics.rules.RuleCritic` ``repair_with_gold=False``), so an accepted
revision is a *minimal repair* of the model's own text (quotes re-aligned, bad refs dropped,
sections rebuilt), verified by the critic. What no minimal repair fixes, and that has gold
evidence, becomes a *gold rewrite*: the oracle completion of the row (SFT on the answer key, a
different kind of data, labelled as such). Output folder:

- ``minimal/``: the critic loop's own output (``sft.jsonl``, ``preferences.jsonl``,
  ``failures.jsonl``, ``examples.jsonl``, ``report.md``);
- ``corrective.jsonl``: the corrective SFT rows, each with ``repair`` = ``minimal`` or ``gold``
  (gold rows only when asked);
- ``preferences.jsonl``: every pair (chosen repair over the rejected own output), labelled the
  same way;
- ``critique.json``: the tally (:class:`RoundTally`).
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from pleias_rl.critics.loop import CritiqueLoop, ExampleResult, LoopSettings
from pleias_rl.critics.output import OutputDir
from pleias_rl.critics.report import write_report
from pleias_rl.critics.rules import RuleCritic
from pleias_rl.data.build import write_jsonl

MAX_REPAIR_ROUNDS = 2
"""Minimal repairs tried per output (a repair is judged again by every critic)."""


@dataclass(frozen=True)
class RoundTally:
    """What the critic round found and made.

    ``failures_by_kind`` counts the failures found in the model's own outputs (round 0);
    ``minimal``: outputs repaired by minimal edits and verified; ``gold``: failing outputs
    replaced by the oracle completion; ``unrepaired``: failing outputs with neither.

    >>> RoundTally(10, 2, {"misquote": 5}, 3, 4, 1, True).failing
    8
    """

    examples: int
    initially_passed: int
    failures_by_kind: dict[str, int]
    minimal: int
    gold: int
    unrepaired: int
    gold_used: bool

    @property
    def failing(self) -> int:
        """Outputs that failed at least one critic."""
        return self.examples - self.initially_passed

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (``critique.json``)."""
        return {**asdict(self), "failing": self.failing}

    def sentence(self) -> str:
        """One line for reports.

        >>> print(RoundTally(10, 2, {"misquote": 5, "format": 1}, 3, 4, 1, False).sentence())
        10 outputs of the model judged: 2 passed, 8 failed (6 failures found: misquote 5, format 1); 3 repaired by minimal edits, 4 gold rewrites (not used for training), 1 left unrepaired.
        """
        kinds = ", ".join(f"{kind} {count}" for kind, count in self.failures_by_kind.items()) or "none"
        used = "used for training" if self.gold_used else "not used for training"
        return (f"{self.examples} outputs of the model judged: {self.initially_passed} passed, "
                f"{self.failing} failed ({sum(self.failures_by_kind.values())} failures found: {kinds}); "
                f"{self.minimal} repaired by minimal edits, "
                f"{self.gold} gold rewrites ({used}), {self.unrepaired} left unrepaired.")


def critic_round(rows: Sequence[Mapping[str, Any]], completions: Mapping[str, str], out_dir: Path,
                 use_gold: bool, batch_size: int = 16) -> RoundTally:
    """Judge each row's own ``completions[id]``; write the folder described in the module doc.

    ``rows`` keep their oracle ``completion`` (the gold rewrite); the model's output replaces it
    for judging. The folder's earlier round, if any, is replaced.

    >>> import tempfile
    >>> from pleias_rl.data.format import render_completion
    >>> row = {"id": "a", "query": "Where does the A5117 end?", "answer": "Helsby", "prompt": "P",
    ...        "sources": ["The A5117 is a road. It runs between Shotwick and Helsby."]}
    >>> own = render_completion(language="English", query_analysis="Easy.", query_report="Trivial",
    ...     answer='It ends in Helsby<ref name="<|source_id|>1">It runs from Shotwick to Helsby</ref>.')
    >>> tally = critic_round([{**row, "completion": "gold text"}], {"a": own}, Path(tempfile.mkdtemp()), True)
    >>> tally.failures_by_kind, tally.minimal, tally.gold
    ({'misquote': 1}, 1, 0)
    """
    loop = CritiqueLoop([RuleCritic(repair_with_gold=False)], None,
                        LoopSettings(max_rounds=MAX_REPAIR_ROUNDS, regenerate=False, batch_size=batch_size))
    judged = [(line, {**row, "completion": completions[str(row["id"])]}) for line, row in enumerate(rows, start=1)]
    shutil.rmtree(out_dir / "minimal", ignore_errors=True)  # judging is cheap: a rerun judges everything again
    output = OutputDir(out_dir / "minimal", sync="batch")
    results: list[ExampleResult] = []
    try:
        for start in range(0, len(judged), batch_size):
            for result in loop.run_batch(judged[start:start + batch_size]):
                output.write(result)
                results.append(result)
    finally:
        output.close()
    write_report(out_dir / "minimal")
    oracles = {str(row["id"]): row.get("completion") for row in rows}
    sft, pairs, gold, unrepaired = [], [], 0, 0
    for result in results:
        if result.initially_passed:
            continue
        if result.accepted:
            sft.append({"id": result.id, "prompt": result.prompt, "completion": result.final, "repair": "minimal"})
            pairs.append(_pair(result, result.final, "minimal"))
        elif oracles.get(result.id):
            gold += 1
            pairs.append(_pair(result, oracles[result.id], "gold"))
            if use_gold:
                sft.append({"id": result.id, "prompt": result.prompt, "completion": oracles[result.id],
                            "repair": "gold"})
        else:
            unrepaired += 1
    write_jsonl(sft, out_dir / "corrective.jsonl")
    write_jsonl(pairs, out_dir / "preferences.jsonl")
    tally = RoundTally(len(results), sum(r.initially_passed for r in results),
                       dict(Counter(f["kind"] for r in results for f in r.failures if f["round"] == 0).most_common()),
                       sum(p["repair"] == "minimal" for p in pairs), gold, unrepaired, use_gold)
    (out_dir / "critique.json").write_text(json.dumps(tally.as_dict(), indent=2) + "\n", encoding="utf-8")
    return tally


def _pair(result: ExampleResult, chosen: str, repair: str) -> dict[str, str]:
    return {"id": result.id, "prompt": result.prompt, "chosen": chosen, "rejected": result.initial,
            "repair": repair}


def read_tally(out_dir: Path) -> RoundTally:
    """The tally a finished round wrote (``critique.json``).

    >>> import tempfile; out = Path(tempfile.mkdtemp())
    >>> _ = (out / "critique.json").write_text(json.dumps(RoundTally(1, 1, {}, 0, 0, 0, False).as_dict()))
    >>> read_tally(out).examples
    1
    """
    values = json.loads((out_dir / "critique.json").read_text(encoding="utf-8"))
    values.pop("failing", None)
    return RoundTally(**values)
