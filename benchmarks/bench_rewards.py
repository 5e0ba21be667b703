"""Throughput and memory of the three core rewards (citation + format + language), one core.

Workload: GRPO-like groups of 8 different completions per prompt, built from the shipped real
HotpotQA records (10 sources of ~90 words each): six honest variants (Trivial and full path,
elided, retypeset), one paraphrase and one flawed completion per group (2-5 refs typical), each
answer worded differently.
Every group starts cold (normalisation caches and the last scored batch's memo cleared), as a
new prompt does. Everything is Python (no native kernel): speed comes from the scored batch
(:class:`pleias_rl.rewards.base.ScoredBatch`: each completion decoded, parsed and given its row
context once for every reward) and from examining each distinct quote once.

Baseline, measured in the same run on the same completions: Pleias RAG-Eval's citation check
(id valid, more than 2 words, not duplicated, and the pure-Python word-level Smith-Waterman of
each quote against its cited source), twice: with the SW as Pleias runs it (full numpy matrix
filled by a Python loop, then a traceback: :func:`pleias_reference_sw`, the target's baseline)
and with our lean two-row pure-Python SW (:func:`pleias_rl.rewards.align.smith_waterman`). Every scorer is timed the same way (best of three rounds over the
same groups). Memory: tracemalloc over 100k distinct completions, sampled along the way, must
stay flat.

Also printed: the six registered rewards as GRPOTrainer calls them (``completion_ids``
re-decoded with a tokenizer; plain and gated), each reward with its own batch (nothing shared,
as a baseline) against the rewards of a step sharing the scored batch, and the gated weighted
reward as one function against it plus its six components as functions of their own; and where
the time of the three rewards goes (:func:`stage_breakdown`).

    python benchmarks/bench_rewards.py [--seconds 3] [--memory-completions 100000]

Targets (issue #15): >= 5,000 completions/s for the three rewards together in one process,
>= 5x the Pleias-style pure-Python SW baseline, flat memory. Throughput is CPU time of this process
pinned to one core (the machine is shared: CPU time is steadier than the wall clock, which is
printed too). Exits non-zero if a target is missed.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import tracemalloc
from contextlib import ExitStack
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Mapping, NamedTuple, Sequence
from unittest import mock

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from citation_targets import hotpot_rows  # noqa: E402  (benchmarks/ is the script's folder)
from pleias_rl.data.corruptions import corrupt, retypeset_quotes  # noqa: E402
from pleias_rl.data.format import build_prompt, parse_completion  # noqa: E402
from pleias_rl.data.schema import source_texts  # noqa: E402
from pleias_rl.data.targets import oracle_completion  # noqa: E402
import pleias_rl.data.format  # noqa: E402
import pleias_rl.data.language  # noqa: E402
from pleias_rl.rewards import citation_reward, format_reward, language_reward  # noqa: E402
import pleias_rl.rewards.base  # noqa: E402
from pleias_rl.rewards.align import smith_waterman  # noqa: E402
from pleias_rl.rewards.text import clear_caches  # noqa: E402

GROUP_SIZE = 8
THREE_REWARDS = (citation_reward, format_reward, language_reward)
TARGET_PER_SECOND = 5_000
TARGET_RATIO = 5.0
MEMORY_GROWTH_LIMIT = 1 << 20  # bytes traced memory may grow from 20% to 100% of the run
# (the bounded caches fill during the first few thousand completions, then memory is flat)

Group = tuple[list[str], dict[str, list[Any]]]

ANSWER_OPENERS = ("In short,", "According to the sources,", "To answer the question,", "Briefly put,",
                  "As the documents show,", "From what is given,", "Put simply,", "Based on the evidence,")
"""One opening phrase per completion of a group: sampled answers differ in their own words, so
language identification (cached per answer text) runs for every completion, as in training."""


def group_for(row: Mapping[str, Any], seed: int) -> list[str]:
    """Eight different completions for one prompt, as a GRPO group of a mid-trained model:
    mostly literal quotes (six honest variants), one light paraphrase and one flawed answer
    (alternating fabricated quotes, a padded fabrication, a changed digit, a wrong source),
    each answer opening with its own words (:data:`ANSWER_OPENERS`).

    >>> len(set(group_for(hotpot_rows(1)[0], 0)))
    8
    """
    rng = random.Random(seed)
    trivial, full = oracle_completion(row), oracle_completion(row, trivial=False)
    flawed = ("fabricated", "honest_padding", "changed_digit", "wrong_source")[seed % 4]
    candidates = [
        trivial, full, oracle_completion(row, elide=True),
        oracle_completion(row, trivial=False, elide=True), retypeset_quotes(trivial, row, rng),
        retypeset_quotes(full, row, rng), corrupt(trivial, row, "paraphrase", seed),
        corrupt(trivial, row, flawed, seed) or corrupt(trivial, row, "fabricated", seed),
    ]
    return [(completion or trivial).replace("<|answer_start|>", f"<|answer_start|>{opener} ", 1)
            for opener, completion in zip(ANSWER_OPENERS, candidates)]


def build_groups(rows: Sequence[Mapping[str, Any]]) -> list[Group]:
    """``(completions, columns)`` per prompt, columns in TRL's keyword-list shape.

    >>> completions, columns = build_groups(hotpot_rows(1))[0]
    >>> len(completions), len(columns["sources"]), columns["prompts"][0].startswith("<|query_start|>")
    (8, 8, True)
    """
    groups = []
    for number, row in enumerate(rows):
        completions = group_for(row, number)
        columns = {key: [value] * GROUP_SIZE for key, value in row.items()}
        columns["prompts"] = [build_prompt(row["query"], source_texts(row["sources"]))] * GROUP_SIZE
        groups.append((completions, columns))
    return groups


def start_cold() -> None:
    """Forget the normalised texts and the last scored batch (a new prompt's group)."""
    clear_caches()
    pleias_rl.rewards.base._last_memo.clear()


def score_group(rewards: Sequence[Callable[..., list]], group: Group) -> None:
    """Score one cold group with every reward, as GRPOTrainer calls them (with a ``log_metric``
    that keeps every logged value, as the trainer's does).

    >>> score_group((citation_reward,), build_groups(hotpot_rows(1))[0])
    """
    start_cold()
    completions, columns = group
    logged: dict[str, list[float]] = {}
    for reward in rewards:
        reward(completions=completions, log_metric=lambda name, value: logged.setdefault(name, []).append(value),
               **columns)


class _Memo:
    """Calls of ``function`` memoised by arguments: a stage whose cost is taken out."""

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function, self.results = function, {}

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        key = (args, tuple(sorted(kwargs.items())))
        if key not in self.results:
            self.results[key] = self.function(*args, **kwargs)
        return self.results[key]


class _ExamineKey(NamedTuple):
    """What :meth:`CitationReward.examine` reads of its context (hashable, unlike the context)."""

    sources: tuple[str, ...]
    folded: Any
    folded_query: str


def stage_breakdown(groups: Sequence[Group], seconds: float) -> list[tuple[str, float]]:
    """Microseconds per completion of the three rewards as stage after stage is memoised
    (its results computed once beforehand, so it costs ~0): parsing, rapidfuzz's fuzzy
    alignment, language identification (the classifier in use), then the whole examination
    of each distinct quote (alignment, number checks, found-in, verdict, RAG-Eval SW). The last line is what the rest of the reward code costs alone:
    judging refs, context, language and format checks, the TRL call path.

    >>> [name for name, _ in stage_breakdown(build_groups(hotpot_rows(2)), 0.01)][-1]
    '  + quote examination memoised'
    """
    import pleias_rl.rewards.align
    import pleias_rl.rewards.citation

    parse = _Memo(parse_completion)
    identifier = pleias_rl.data.language._identifier()
    memoised_identifier = SimpleNamespace(rank=_Memo(identifier.rank), classify=_Memo(identifier.classify))
    examine = _Memo(pleias_rl.rewards.citation.CitationReward.examine)
    aligner = SimpleNamespace(partial_ratio_alignment=_Memo(pleias_rl.rewards.align.fuzz.partial_ratio_alignment),
                              partial_ratio=pleias_rl.rewards.citation.fuzz.partial_ratio)

    def memoise_alignment(patches: ExitStack) -> None:
        patches.enter_context(mock.patch.object(pleias_rl.rewards.align, "fuzz", aligner))
        patches.enter_context(mock.patch.object(pleias_rl.rewards.citation, "fuzz", aligner))

    def memoise_language(patches: ExitStack) -> None:  # the full ranking and the cheap likeliest label
        patches.enter_context(mock.patch.object(pleias_rl.data.language, "_classifier",
                                                lambda: memoised_identifier.rank))
        patches.enter_context(mock.patch.object(pleias_rl.data.language, "_identifier",
                                                lambda: memoised_identifier))

    steps = (("every stage computed", None),
             ("  parsing memoised", lambda patches: patches.enter_context(
                 mock.patch.object(pleias_rl.rewards.base, "parse_completion", parse))),
             ("  + fuzzy alignment memoised", memoise_alignment),
             ("  + language identification memoised", memoise_language),
             ("  + quote examination memoised", lambda patches: patches.enter_context(mock.patch.object(
                 pleias_rl.rewards.citation.CitationReward, "examine",
                 lambda reward, quote, source_id, context: examine(  # keyed on what it reads
                     reward, quote, source_id, _ExamineKey(context.sources, context.folded, context.folded_query))))))
    rows, patches = [], ExitStack()
    with patches:
        for name, memoise in steps:
            if memoise is not None:  # patches stay on for the steps after
                memoise(patches)
            for group in groups:  # fill the memos before timing
                score_group(THREE_REWARDS, group)
            cpu, _ = _throughput(lambda group: score_group(THREE_REWARDS, group), groups, seconds)
            rows.append((name, 1e6 / cpu))
    return rows


def pleias_reference_sw(quote: str, source: str) -> float:
    """The score of :func:`pleias_reference_alignment` (what RAG-Eval averages).

    >>> pleias_reference_sw("runs between Chester and", "It runs between Shotwick and Helsby.")
    0.625
    """
    return pleias_reference_alignment(quote, source)[0]


def pleias_reference_alignment(quote: str, source: str) -> tuple[float, str, str]:
    """Smith-Waterman the way Pleias RAG-Eval runs it: a full numpy score matrix filled by a
    Python double loop, then a traceback that rebuilds both aligned texts (``#`` marks a gap).
    Same score as :func:`pleias_rl.rewards.align.smith_waterman`, which keeps two rows and no traceback.

    >>> pleias_reference_alignment("runs between Chester and", "It runs between Shotwick and Helsby.")
    (0.625, 'runs between chester and', 'runs between shotwick and')
    """
    import numpy as np

    quote_words, source_words = quote.lower().split(), source.lower().split()
    if not quote_words or not source_words:
        return 0.0, "", ""
    matrix = np.zeros((len(source_words) + 1, len(quote_words) + 1), dtype=np.int32)
    best, best_at = 0, (0, 0)
    for i in range(1, len(source_words) + 1):
        for j in range(1, len(quote_words) + 1):
            same = source_words[i - 1] == quote_words[j - 1]
            value = max(0, matrix[i - 1, j - 1] + (2 if same else -1), matrix[i - 1, j] - 1,
                        matrix[i, j - 1] - 1)
            matrix[i, j] = value
            if value > best:
                best, best_at = value, (i, j)
    aligned_quote, aligned_source = [], []
    i, j = best_at
    while i > 0 and j > 0 and matrix[i, j] > 0:
        if matrix[i, j] == matrix[i - 1, j] - 1:
            aligned_quote.append("#" * len(source_words[i - 1]))
            aligned_source.append(source_words[i - 1])
            i -= 1
        elif matrix[i, j] == matrix[i, j - 1] - 1:
            aligned_quote.append(quote_words[j - 1])
            aligned_source.append("#" * len(quote_words[j - 1]))
            j -= 1
        else:
            aligned_quote.append(quote_words[j - 1])
            aligned_source.append(source_words[i - 1])
            i, j = i - 1, j - 1
    return (int(best) / 2 / len(quote_words), " ".join(reversed(aligned_quote)),
            " ".join(reversed(aligned_source)))


def pleias_rag_rank(completion: str, sources: Sequence[str],
                    align: Callable[[str, str], float] = smith_waterman) -> float:
    """Pleias RAG-Eval's four per-citation measures, averaged (``align``: the SW to use).

    >>> pleias_rag_rank('E<|language_end|><|answer_start|>x<ref name="1">a b c</ref><|answer_end|>', ["a b c"])
    1.0
    """
    measures: list[float] = []
    seen: set[str] = set()
    for citation in parse_completion(completion).citations:
        valid = citation.source_id is not None and 1 <= citation.source_id <= len(sources)
        aligned = align(citation.quote, sources[citation.source_id - 1]) if valid else 0.0
        measures += [valid, len(citation.quote.split()) > 2, citation.quote not in seen, aligned]
        seen.add(citation.quote)
    return sum(measures) / len(measures) if measures else 0.0


def baseline(align: Callable[[str, str], float]) -> Callable[[Group], None]:
    """A group scorer computing :func:`pleias_rag_rank` with ``align``.

    >>> baseline(smith_waterman)(build_groups(hotpot_rows(1))[0])
    """
    def score(group: Group) -> None:
        completions, columns = group
        for completion, sources in zip(completions, columns["sources"]):
            pleias_rag_rank(completion, source_texts(sources), align)
    return score


def trainer_path(groups: Sequence[Group], seconds: float) -> list[tuple[str, float]]:
    """Completions/s of the six registered rewards called as GRPOTrainer calls them: TRL's
    text (special tokens skipped) plus ``completion_ids``, re-decoded with the tokenizer
    (:func:`pleias_rl.inference.tiny.build_tiny_tokenizer`: byte-level BPE, the Pleias tokens special);
    then the gated weighted reward (``gate_rewards: true``). Measured with each reward scoring
    its own batch (nothing shared: the baseline) and with the rewards of a step sharing the
    scored batch (decoded, parsed, row context once); the gated reward alone (it logs its
    components) and with its six components as reward functions of their own.

    >>> [name for name, _ in trainer_path(build_groups(hotpot_rows(1)), 0.01)][0]
    'six rewards, nothing shared (baseline)'
    """
    import tempfile

    from pleias_rl.rewards.registry import WeightedReward, build_rewards
    from pleias_rl.inference.tiny import build_tiny_tokenizer

    tokenizer = build_tiny_tokenizer(tempfile.mkdtemp())
    batches = []
    for completions, columns in groups:
        ids = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in completions]
        trl_texts = [tokenizer.decode(sequence, skip_special_tokens=True) for sequence in ids]
        batches.append((trl_texts, {**columns, "completion_ids": ids}))
    six, _ = build_rewards(None, tokenizer=tokenizer)
    weighted = WeightedReward(None, tokenizer=tokenizer)

    def alone(reward: Callable[..., list]) -> Callable[..., list]:
        """``reward`` scoring a batch of its own: nothing inherited from the reward before."""
        def call(**kwargs: Any) -> list:
            pleias_rl.rewards.base._last_memo.clear()
            return reward(**kwargs)
        return call

    setups = (("six rewards, nothing shared (baseline)", [alone(r) for r in six]),
              ("six rewards sharing the scored batch", six),
              ("gated + six component functions, nothing shared", [alone(r) for r in (weighted, *six)]),
              ("gated, one function logging its components", [weighted]))
    return [(name, _throughput(lambda batch, funcs=funcs: score_group(funcs, batch), batches, seconds)[0])
            for name, funcs in setups]


def _throughput(step: Callable[[Group], None], groups: Sequence[Group], seconds: float,
               rounds: int = 3) -> tuple[float, float]:
    """Best completions/s over ``rounds`` runs of about ``seconds``: (CPU time, wall clock)."""
    best_cpu = best_wall = 0.0
    for _ in range(rounds):
        done, index = 0, 0
        cpu, wall = time.process_time(), time.perf_counter()
        while time.process_time() - cpu < seconds:
            step(groups[index % len(groups)])
            done += GROUP_SIZE
            index += 1
        best_cpu = max(best_cpu, done / (time.process_time() - cpu))
        best_wall = max(best_wall, done / (time.perf_counter() - wall))
    return best_cpu, best_wall


def _memory_profile(groups: Sequence[Group], completions: int) -> list[tuple[int, int, int]]:
    """``(completions done, traced bytes, peak bytes)`` at 10 checkpoints over ``completions``
    distinct completions (a counter makes each one new), caches left to run as in training."""
    checkpoints = {completions * k // 10 for k in range(1, 11)}
    samples = []
    tracemalloc.start()
    try:
        for done in range(0, completions, GROUP_SIZE):
            originals, columns = groups[(done // GROUP_SIZE) % len(groups)]
            batch = [c.replace("<|query_analysis_end|>", f" Case {done + i}.<|query_analysis_end|>", 1)
                     for i, c in enumerate(originals)]
            for reward in THREE_REWARDS:
                reward(completions=batch, **columns)
            reached = done + GROUP_SIZE
            if any(done < mark <= reached for mark in checkpoints):
                samples.append((reached, *tracemalloc.get_traced_memory()))
    finally:
        tracemalloc.stop()
    return samples


def _pin_to_one_core() -> str:
    """Restrict this process to one CPU core (where the OS allows it)."""
    if hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return f"pinned to core {core}"
    return "not pinned (no sched_setaffinity)"


def main(argv: list[str] | None = None) -> int:
    """Print throughput, ratio and memory figures; return 1 if a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement round")
    parser.add_argument("--memory-completions", type=int, default=100_000)
    args = parser.parse_args(argv)
    print(f"one core: {_pin_to_one_core()}")
    groups = build_groups(hotpot_rows())
    refs = [len(parse_completion(c).citations) for completions, _ in groups for c in completions]
    print(f"workload: {len(groups)} prompts x {GROUP_SIZE} completions, "
          f"{sum(refs) / len(refs):.1f} refs per completion "
          f"({sum(2 <= r <= 5 for r in refs) / len(refs):.0%} with 2-5)\n")
    score_group(THREE_REWARDS, groups[0])  # warm up imports

    rows = []
    for name, rewards in (("citation", (citation_reward,)), ("format", (format_reward,)),
                          ("language", (language_reward,)),
                          ("citation+format+language", THREE_REWARDS)):
        cpu, wall = _throughput(lambda group: score_group(rewards, group), groups, args.seconds)
        rows.append((name, cpu, wall))
    lean_cpu, lean_wall = _throughput(baseline(smith_waterman), groups, args.seconds)
    rows.append(("RAG-Eval, lean pure-Python SW", lean_cpu, lean_wall))
    reference_cpu, reference_wall = _throughput(baseline(pleias_reference_sw), groups, args.seconds)
    rows.append(("RAG-Eval, Pleias-style SW", reference_cpu, reference_wall))
    print(f"{'scorer':<34}{'completions/s (CPU)':>20}{'(wall)':>10}")
    for name, cpu, wall in rows:
        print(f"{name:<34}{cpu:>20,.0f}{wall:>10,.0f}")
    combined = rows[3][1]  # citation+format+language
    ratio = combined / reference_cpu
    print(f"\nthree rewards vs the Pleias-style SW baseline: {ratio:.1f}x (target >= {TARGET_RATIO:.0f}x); "
          f"vs our lean pure-Python SW: {combined / lean_cpu:.1f}x")

    print("\nas GRPOTrainer calls them (completion_ids re-decoded with a tokenizer), completions/s:")
    path = trainer_path(groups, args.seconds)
    for name, cpu in path:
        print(f"{name:<48}{cpu:>8,.0f}")
    print(f"  scored batch shared: {path[1][1] / path[0][1]:.1f}x; gated as one function: "
          f"{path[3][1] / path[2][1]:.1f}x")

    print("\nwhere the time goes (three rewards, microseconds per completion, one core):")
    for name, micros in stage_breakdown(groups, args.seconds / 2):
        print(f"{name:<42}{micros:>8.1f}")

    samples = _memory_profile(groups, args.memory_completions)
    print(f"\ntracemalloc over {args.memory_completions:,} distinct completions (three rewards):")
    for done, current, peak in samples:
        print(f"  {done:>8,} completions: traced {current / 1e6:7.2f} MB, peak {peak / 1e6:7.2f} MB")
    growth = samples[-1][1] - samples[1][1]
    print(f"  growth from {samples[1][0]:,} to {samples[-1][0]:,} completions: {growth / 1e6:+.2f} MB "
          f"(limit {MEMORY_GROWTH_LIMIT / 1e6:.2f} MB)")

    missed = [what for what, ok in (
        (f"{combined:,.0f}/s < {TARGET_PER_SECOND:,}/s", combined >= TARGET_PER_SECOND),
        (f"ratio {ratio:.1f}x < {TARGET_RATIO:.0f}x", ratio >= TARGET_RATIO),
        (f"memory grew {growth / 1e6:.2f} MB", growth <= MEMORY_GROWTH_LIMIT)) if not ok]
    print("\nall targets met" if not missed else "\nMISSED: " + "; ".join(missed))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
