"""Snapshot of every reward's score and diagnostics, to check that a change keeps behaviour.

Cases: the shipped samples (``data/samples/*.jsonl``: the SFT completions, and oracle
completions of the RL and held-out rows, refusals included) and a few thousand completions
generated from the shipped raw HotpotQA and MuSiQue records: the honest and corrupted citation
categories of :func:`pleias_rl.data.corruptions.citation_cases`, paraphrased and retypeset
quotes, answers in another language, and completions whose structure is broken (cut short,
a section dropped or doubled, text outside the sections). Every case is scored by each of the
six registered rewards (``explain``: score and diagnostics), by the gated weighted reward of all
six, and by each reward called the GRPOTrainer way on groups of eight.

    python benchmarks/reward_snapshot.py --save /tmp/before.json
    python benchmarks/reward_snapshot.py --compare /tmp/before.json   # exit 1 if a case moved

``--compare`` prints each case that differs (its id, the reward, the old and new score and the
diagnostics that changed) and exits 1 if any does; ``--show N`` prints at most N of them.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

REPO = Path(__file__).resolve().parent.parent

from pleias_rl.data.corruptions import citation_cases, corrupt, retypeset_quotes  # noqa: E402
from pleias_rl.data.readers import musique_row, read_hotpotqa  # noqa: E402
from pleias_rl.data.targets import oracle_completion  # noqa: E402
from pleias_rl.rewards.registry import REGISTRY, WeightedReward, get_reward  # noqa: E402

SAMPLES = REPO / "data" / "samples"
RAW = SAMPLES / "raw"
GROUP_SIZE = 8

Case = tuple[str, str, Mapping[str, Any]]
"""``(case id, completion, row)``."""


def _json_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def sample_cases() -> Iterator[Case]:
    """The shipped samples: each SFT row with its completion, each RL and held-out row with
    its oracle completion (Trivial and full path).

    >>> cases = list(sample_cases())
    >>> len(cases) > 500, cases[0][0]
    (True, 'sft:0')
    """
    for number, row in enumerate(_json_lines(SAMPLES / "sft.jsonl")):
        yield f"sft:{number}", row["completion"], row
    for name in ("rl", "heldout"):
        for number, row in enumerate(_json_lines(SAMPLES / f"{name}.jsonl")):
            yield f"{name}:{number}:trivial", oracle_completion(row), row
            yield f"{name}:{number}:full", oracle_completion(row, trivial=False), row


def broken_variants(completion: str) -> Iterator[tuple[str, str]]:
    """Structure-breaking edits of a well-formed completion: ``(name, text)`` pairs.

    >>> [name for name, _ in broken_variants("English<|language_end|><|answer_start|>A<|answer_end|>")][:3]
    ['cut_30', 'cut_60', 'cut_90']
    """
    for percent in (30, 60, 90):
        yield f"cut_{percent}", completion[:len(completion) * percent // 100]
    yield "no_end_of_text", completion.replace("<|end_of_text|>", "")
    yield "no_answer_end", completion.replace("<|answer_end|>", "")
    yield "no_query_report", completion.replace("<|query_report_start|>", "")
    yield "answer_twice", completion.replace("<|answer_end|>", "<|answer_end|><|answer_start|>Again.<|answer_end|>", 1)
    yield "text_outside", completion.replace("<|query_report_start|>", "Stray words.\n<|query_report_start|>", 1)
    yield "empty_answer", _replace_between(completion, "<|answer_start|>", "<|answer_end|>", "")
    yield "unclosed_ref", completion.replace("</ref>", "", 1)
    yield "no_language", completion.split("<|language_end|>", 1)[-1]
    yield "plain_text", "The answer is in the second source, I believe."


def _replace_between(text: str, start: str, end: str, new: str) -> str:
    head, found, rest = text.partition(start)
    if not found or end not in rest:
        return text
    return head + start + new + end + rest.split(end, 1)[1]


def generated_cases(rows: Sequence[Mapping[str, Any]], dataset: str) -> Iterator[Case]:
    """Honest, elided, corrupted, paraphrased, retypeset, other-language and broken completions
    built from the raw records' rows.

    >>> rows = list(read_hotpotqa(json.loads((RAW / "hotpotqa_train_sample100.json").read_text())))[:1]
    >>> len(list(generated_cases(rows, "hotpotqa"))) > 30
    True
    """
    for category, pairs in citation_cases(rows).items():
        for number, (completion, row) in enumerate(pairs):
            yield f"{dataset}:{category}:{number}", completion, row
    for number, row in enumerate(rows):
        trivial, full = oracle_completion(row), oracle_completion(row, trivial=False)
        key = f"{dataset}:{number}"
        yield f"{key}:elided_full", oracle_completion(row, trivial=False, elide=True), row
        yield f"{key}:paraphrase_full", corrupt(full, row, "paraphrase", number) or full, row
        yield f"{key}:honest_padding", corrupt(trivial, row, "honest_padding", number) or trivial, row
        yield f"{key}:french", oracle_completion(row, language_name="French"), row
        yield f"{key}:french_row", trivial, {**row, "language": "fr"}
        yield f"{key}:unanswerable_row", trivial, {**row, "answerable": False}
        yield f"{key}:retypeset_full", retypeset_quotes(full, row, random.Random(f"snapshot:{number}")) or full, row
        for name, text in broken_variants(full if number % 2 else trivial):
            yield f"{key}:{name}", text, row


def all_cases() -> list[Case]:
    """Every case of the snapshot, in a fixed order with unique ids.

    >>> cases = all_cases()
    >>> len(cases) > 3000, len({case_id for case_id, _, _ in cases}) == len(cases)
    (True, True)
    """
    hotpot = list(read_hotpotqa(json.loads((RAW / "hotpotqa_train_sample100.json").read_text(encoding="utf-8"))))
    musique = [musique_row(record)
               for record in json.loads((RAW / "musique_train_sample100.json").read_text(encoding="utf-8"))]
    return [*sample_cases(), *generated_cases(hotpot, "hotpotqa"), *generated_cases(musique, "musique")]


def _plain(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists, odd objects their repr)."""
    return json.loads(json.dumps(value, default=repr, ensure_ascii=False))


def snapshot(cases: Sequence[Case]) -> dict[str, dict[str, Any]]:
    """``{case id: {"completion", "explain": {reward: [score, diagnostics]}, "call": {reward:
    score}}}`` for each of the six registered rewards and the gated ``weighted`` reward of all six.

    >>> record = snapshot(all_cases()[:2])["sft:0"]
    >>> sorted(record["explain"]) == sorted([*REGISTRY, "weighted"]), record["call"]["format"]
    (True, 1.0)
    """
    rewards = {name: get_reward(name) for name in REGISTRY}
    rewards["weighted"] = WeightedReward()
    records: dict[str, dict[str, Any]] = {}
    for case_id, completion, row in cases:
        records[case_id] = {"completion": completion,
                            "explain": {name: _plain(list(reward.explain(completion, row)))
                                        for name, reward in rewards.items()},
                            "call": {}}
    for start in range(0, len(cases), GROUP_SIZE):
        group = cases[start:start + GROUP_SIZE]
        keys = set.intersection(*(set(row) for _, _, row in group))
        columns = {key: [row[key] for _, _, row in group] for key in sorted(keys)}
        completions = [completion for _, completion, _ in group]
        for name, reward in rewards.items():
            for (case_id, _, _), score in zip(group, reward(completions=completions, **columns)):
                records[case_id]["call"][name] = score
    return records


def differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """One line per case, reward and path that differ between two snapshots.

    >>> old = {"a": {"completion": "x", "explain": {"format": [1.0, {"errors": []}]}, "call": {"format": 1.0}}}
    >>> new = {"a": {"completion": "x", "explain": {"format": [0.5, {"errors": ["e"]}]}, "call": {"format": 0.5}}}
    >>> for line in differences(old, new): print(line)
    a explain format: score 1.0 -> 0.5; errors: [] -> ['e']
    a call format: 1.0 -> 0.5
    """
    lines = []
    for case_id in sorted(set(old) | set(new)):
        if case_id not in new or case_id not in old:
            lines.append(f"{case_id}: only in the {'saved' if case_id in old else 'new'} snapshot")
            continue
        before, after = old[case_id], new[case_id]
        if before["completion"] != after["completion"]:
            lines.append(f"{case_id}: the generated completion changed")
            continue
        for name in sorted(set(before["explain"]) | set(after["explain"])):
            was, now = before["explain"].get(name), after["explain"].get(name)
            if was != now:
                lines.append(f"{case_id} explain {name}: {_explain_change(was, now)}")
        for name in sorted(set(before["call"]) | set(after["call"])):
            was, now = before["call"].get(name), after["call"].get(name)
            if was != now:
                lines.append(f"{case_id} call {name}: {was} -> {now}")
    return lines


def _explain_change(was: Any, now: Any) -> str:
    if was is None or now is None:
        return f"{was} -> {now}"
    parts = [f"score {was[0]} -> {now[0]}"] if was[0] != now[0] else []
    parts.extend(f"{key}: {was[1].get(key)} -> {now[1].get(key)}"
                 for key in sorted(set(was[1]) | set(now[1])) if was[1].get(key) != now[1].get(key))
    return "; ".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    """Save or compare a snapshot; 1 when ``--compare`` finds a difference."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--save", type=Path, help="write the snapshot to this JSON file")
    action.add_argument("--compare", type=Path, help="compare with this saved snapshot")
    parser.add_argument("--show", type=int, default=200, help="print at most this many differences")
    args = parser.parse_args(argv)
    if args.save and args.save.exists():
        parser.error(f"{args.save} exists; not overwriting it")
    records = snapshot(all_cases())
    if args.save:
        args.save.write_text(json.dumps(records, ensure_ascii=False, sort_keys=True), encoding="utf-8")
        print(f"saved {len(records)} cases to {args.save}")
        return 0
    lines = differences(json.loads(args.compare.read_text(encoding="utf-8")), _plain(records))
    for line in lines[:args.show]:
        print(line)
    moved = len({line.split(" ", 1)[0].rstrip(":") for line in lines})
    print(f"{len(records)} cases; {moved} differ ({len(lines)} differences)")
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
