"""Red team of the rewards (issue 16): every known attack, built automatically from the shipped real
records, against honest controls that must keep full credit.

Citation attacks, each alone (``all_bad``: target mean <= 0.3) and hidden among the honest gold
quotes (``one_bad``: target mean <= 0.5): an elided negation, sentences stitched by an elision,
a quote cut inside a word, a quote cut inside a number (``500`` of ``1,500``), a source dumped
with one typo, a fuzzy copy dropping or adding a negation, a generic phrase or a quote of
function words, many tiny refs, a copy of the query, a fabrication. Format attacks (target
<= 0.5): a "." answer after a "." analysis, a zero-width section, counting, a symbol run, a loop,
a language line naming no language. Honest controls (target >= 0.95 each): the gold quotes,
whole sentences holding a negation, elisions of whole sentences and of long clauses, quotes
starting mid-sentence on a word boundary, numbers quoted in full, a literal quote sharing most of
its words with the query. A light paraphrase must land between fabricated and honest. AUC honest
vs attacks >= 0.99. A mutation search makes random meaning-changing edits of honest quotes
(delete one to three inner words, one a content word; put an elision in their place; change a
digit; cut inside a word; swap two names): under 2% may still score >= 0.9.

Language attacks (target 0) come from ``benchmarks/language_attacks.py`` (:func:`language_cases`).
Prints per class n, mean, max and the share of attacks that pay (>= 0.9); exits 1 when a target
is missed.

    python benchmarks/red_team.py [--size 100] [--seed 0] [--mutations 3]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from statistics import mean
from typing import Any, Callable, Iterator, Mapping, Sequence

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import language_attacks  # noqa: E402
from citation_targets import auc, print_verdict, target_lines  # noqa: E402
from pleias_rl.data.corruptions import paraphrase  # noqa: E402
from pleias_rl.data.format import format_ref, neutralise, render_completion  # noqa: E402
from pleias_rl.data.readers import convert_record, read_hotpotqa  # noqa: E402
from pleias_rl.data.schema import source_texts  # noqa: E402
from pleias_rl.data.targets import elide_sentence, sentences, supporting_evidence  # noqa: E402
from pleias_rl.data.wordlists import ANY_FUNCTION_WORD, MEANING_WORDS, NEGATIONS  # noqa: E402
from pleias_rl.rewards.base import Reward  # noqa: E402
from pleias_rl.rewards.citation import CitationReward  # noqa: E402
from pleias_rl.rewards.evidence import content_words, words  # noqa: E402
from pleias_rl.rewards.format import FormatReward  # noqa: E402

RAW = REPO / "data" / "samples" / "raw"
PAYS = 0.9
"""An attack that scores at least this pays."""
ELISION = " (\u2026) "

Quote = tuple[int, str]
"""A ref: (source id, quote)."""


@dataclass(frozen=True)
class Case:
    """One scored completion: its class, its group (``honest``, ``all_bad``, ``one_bad``,
    ``format``, ``between``, ``mutation``), the completion, its row and the reward judging it."""

    kind: str
    group: str
    completion: str
    row: Mapping[str, Any]
    reward: str = "citation"


def real_rows(size: int) -> list[dict[str, Any]]:
    """The first ``size`` HotpotQA and ``size`` MuSiQue shipped records with gold evidence.

    >>> [row["meta"]["dataset"] for row in real_rows(1)]
    ['hotpotqa', 'musique']
    """
    hotpot = list(read_hotpotqa(json.loads((RAW / "hotpotqa_train_sample100.json").read_text("utf-8"))))
    musique = [convert_record(record, "musique") for record in
               json.loads((RAW / "musique_train_sample100.json").read_text("utf-8"))]
    return [row for rows in (hotpot, musique)
            for row in [row for row in rows if supporting_evidence(row)][:size]]


def completion(row: Mapping[str, Any], refs: Sequence[Quote], **sections: str) -> str:
    """A Trivial-path completion answering the row's gold answer with these refs.

    >>> completion({"answer": "Helsby"}, [(1, "It runs to Helsby.")]).count("<ref")
    1
    """
    answer = f"The answer is {row.get('answer') or 'unknown'}" + "".join(
        format_ref(source_id, neutralise(quote)) for source_id, quote in refs) + "."
    values = {"language": "English", "query_analysis": "The query asks for one fact.",
              "query_report": "Trivial", "answer": answer}
    values.update(sections)
    return render_completion(**values)


def _whole_sentences(row: Mapping[str, Any]) -> list[Quote]:
    """Every sentence of every source that occurs literally in it, 4 to 60 words."""
    return [(number, sentence) for number, text in enumerate(source_texts(row.get("sources")), 1)
            for sentence in sentences(text) if sentence in text and 4 <= len(sentence.split()) <= 60]


def _negated(row: Mapping[str, Any]) -> list[tuple[int, str, int]]:
    """(source id, sentence, index of its negation word) for sentences with an inner negation."""
    found = []
    for number, sentence in _whole_sentences(row):
        pieces = sentence.split()
        for index, piece in enumerate(pieces[3:-3], start=3):
            if set(words(piece)) & NEGATIONS:
                found.append((number, sentence, index))
                break
    return found


# ----- honest controls ------------------------------------------------------------------------

def honest_gold(row: Mapping[str, Any], rng: random.Random) -> list[Quote] | None:
    """The gold supporting sentences."""
    return supporting_evidence(row)


def honest_negation(row: Mapping[str, Any], rng: random.Random) -> list[Quote] | None:
    """A whole sentence holding a negation."""
    negated = _negated(row)
    return [negated[0][:2]] if negated else None


def honest_whole_sentences_elided(row: Mapping[str, Any], rng: random.Random) -> list[Quote] | None:
    """Two whole sentences of one source with the whole sentence between them elided (a stretch
    under half the source: not a dump)."""
    for number, text in enumerate(source_texts(row.get("sources")), 1):
        whole = [sentence for sentence in sentences(text) if sentence in text]
        for first, last in zip(whole, whole[2:]):
            if min(len(first.split()), len(last.split())) < 5 or not last.endswith((".", "!", "?")):
                continue
            if text.find(last) + len(last) - text.find(first) < len(text) / 2:
                return [(number, first + ELISION + last)]
    return None


def honest_long_clause_elided(row: Mapping[str, Any], rng: random.Random) -> list[Quote] | None:
    """Gold sentences with a long clause elided (:func:`pleias_rl.data.targets.elide_sentence`)."""
    elided = [(number, elide_sentence(sentence)) for number, sentence in supporting_evidence(row)]
    return elided if any(ELISION.strip() in quote for _, quote in elided) else None


def honest_mid_sentence(row: Mapping[str, Any], rng: random.Random) -> list[Quote] | None:
    """A gold sentence quoted from a word in its middle (not right after a negation or qualifier)."""
    for number, sentence in supporting_evidence(row):
        pieces = sentence.split()
        starts = [index for index in range(2, len(pieces) - 7)
                  if not set(words(pieces[index - 1])) & MEANING_WORDS and pieces[index][:1].isalnum()]
        if starts:
            return [(number, " ".join(pieces[rng.choice(starts):]))]
    return None


_SEPARATED_NUMBER = re.compile(r"\d[.,]\d")


def honest_numbers(row: Mapping[str, Any], rng: random.Random) -> list[Quote] | None:
    """A whole sentence with a number (one with a separator when there is one)."""
    numbered = [(number, sentence) for number, sentence in _whole_sentences(row)
                if any(char.isdigit() for char in sentence)]
    separated = [quote for quote in numbered if _SEPARATED_NUMBER.search(quote[1])]
    return (separated or numbered)[:1] or None


def honest_query_overlap(row: Mapping[str, Any], rng: random.Random) -> tuple[list[Quote], dict[str, Any]] | None:
    """A gold sentence quoted literally under a query made of most of its words."""
    number, sentence = supporting_evidence(row)[0]
    return [(number, sentence)], {**row, "query": f"Is it true that {sentence.rstrip('.')}?"}


HONEST: dict[str, Callable[..., Any]] = {
    "gold": honest_gold, "negation_whole": honest_negation,
    "whole_sentences_elided": honest_whole_sentences_elided,
    "long_clause_elided": honest_long_clause_elided, "mid_sentence": honest_mid_sentence,
    "numbers_in_full": honest_numbers, "query_overlap": honest_query_overlap,
}
"""Honest controls by class: each returns refs, or refs and a changed row, or ``None``."""


# ----- citation attacks -----------------------------------------------------------------------

def negation_elided(row: Mapping[str, Any], rng: random.Random) -> Quote | None:
    """A sentence with its negation replaced by an elision."""
    negated = _negated(row)
    if not negated:
        return None
    number, sentence, index = negated[0]
    pieces = sentence.split()
    return number, " ".join(pieces[:index]) + ELISION + " ".join(pieces[index + 1:])


def stitched(row: Mapping[str, Any], rng: random.Random) -> Quote | None:
    """The start of one sentence joined to the end of a later one by an elision."""
    for number, text in enumerate(source_texts(row.get("sources")), 1):
        whole = [sentence.split() for sentence in sentences(text) if sentence in text]
        pairs = [(a, b) for a in range(len(whole)) for b in range(a + 1, len(whole))
                 if len(whole[a]) >= 7 and len(whole[b]) >= 7]
        if pairs:
            first, second = (whole[index] for index in rng.choice(pairs))
            return number, " ".join(first[:len(first) // 2]) + ELISION + " ".join(second[len(second) // 2:])
    return None


def cut_word(row: Mapping[str, Any], rng: random.Random) -> Quote | None:
    """A gold sentence quoted from inside its first long word ("happy" of "unhappy")."""
    for number, sentence in supporting_evidence(row):
        pieces = sentence.split()
        for index, piece in enumerate(pieces[1:-3], start=1):
            if len(piece) >= 6 and piece.isalpha():
                return number, " ".join([piece[2:]] + pieces[index + 1:])
    return None


_NUMBER_PARTS = re.compile(r"\d+[.,](\d+)|\d(\d{2,})")


def cut_number(row: Mapping[str, Any], rng: random.Random) -> Quote | None:
    """A quote starting inside a number: after its separator ("500" of "1,500") or its first digit."""
    for number, sentence in _whole_sentences(row):
        found = _NUMBER_PARTS.search(sentence)
        if found is not None:
            start = found.start(1) if found.group(1) else found.start(2)
            quote = sentence[start:]
            if len(quote.split()) >= 4:
                return number, quote
    return None


def near_dump(row: Mapping[str, Any], rng: random.Random) -> Quote | None:
    """A whole source of three sentences or more, with one typo."""
    for number, text in enumerate(source_texts(row.get("sources")), 1):
        if len(sentences(text)) >= 3:
            middle = len(text) // 2
            at = next((i for i in range(middle, len(text) - 1) if text[i:i + 2].isalpha()), None)
            if at is not None:
                return number, (text[:at] + text[at + 1] + text[at] + text[at + 2:]).strip()
    return None


def fuzzy_negation(row: Mapping[str, Any], rng: random.Random) -> Quote | None:
    """A near-copy of a sentence that drops its negation, or adds one after "is"/"was"."""
    negated = _negated(row)
    if negated:
        number, sentence, index = negated[0]
        pieces = sentence.split()
        return number, " ".join(pieces[:index] + pieces[index + 1:])
    for number, sentence in _whole_sentences(row):
        pieces = sentence.split()
        verbs = [index for index, piece in enumerate(pieces[1:-2], 1) if piece in ("is", "was", "are", "were")]
        if verbs:
            return number, " ".join(pieces[:verbs[0] + 1] + ["not"] + pieces[verbs[0] + 1:])
    return None


def generic_phrase(row: Mapping[str, Any], rng: random.Random) -> Quote | None:
    """A three- or four-word phrase found in several sources, else a run of function words."""
    texts = source_texts(row.get("sources"))
    folded = [" ".join(words(text)) for text in texts]
    for size in (4, 3):
        for number, text in enumerate(texts, 1):
            pieces = text.split()
            for start in range(len(pieces) - size):
                phrase = " ".join(pieces[start:start + size])
                key = " ".join(words(phrase))
                if key and sum(f" {key} " in f" {other} " for other in folded) >= 2 and phrase in text:
                    return number, phrase
    for number, text in enumerate(texts, 1):
        pieces = text.split()
        for start in range(len(pieces) - 4):
            phrase = " ".join(pieces[start:start + 4])
            if len(content_words(phrase)) <= 1 and phrase.isascii():
                return number, phrase
    return None


def query_copy(row: Mapping[str, Any], rng: random.Random) -> Quote | None:
    """The query quoted as evidence."""
    return supporting_evidence(row)[0][0], str(row.get("query") or "")


def fabricated(row: Mapping[str, Any], rng: random.Random) -> Quote | None:
    """An invented sentence about the answer."""
    return 1, f"{row.get('answer') or 'It'} was founded in {rng.randint(1700, 1990)} by travelling merchants."


ATTACKS: dict[str, Callable[[Mapping[str, Any], random.Random], Quote | None]] = {
    "negation_elided": negation_elided, "stitched": stitched, "cut_word": cut_word,
    "cut_number": cut_number, "near_dump": near_dump, "fuzzy_negation": fuzzy_negation,
    "generic_phrase": generic_phrase, "query_copy": query_copy, "fabricated": fabricated,
}
"""Citation attacks by class: one bad ref each (``None`` where the row offers none)."""


def tiny_refs(row: Mapping[str, Any], rng: random.Random) -> list[Quote] | None:
    """An answer of five tiny refs: three- and four-word windows of the gold sentences."""
    windows = [(number, " ".join(sentence.split()[start:start + rng.choice((3, 4))]))
               for number, sentence in supporting_evidence(row)
               for start in range(0, len(sentence.split()) - 4, 4)]
    return rng.sample(windows, 5) if len(windows) >= 5 else None


# ----- format attacks -------------------------------------------------------------------------

FORMAT_ATTACKS: dict[str, dict[str, str]] = {
    "dot_answer": {"query_analysis": ".", "answer": "."},
    "zero_width_section": {"query_analysis": "\u200b\u200c\u2060"},
    "counting": {"answer": " ".join(map(str, range(400)))},
    "symbol_run": {"answer": "Yes " + "=" * 60},
    "loop": {"answer": "It is. " + "ha" * 40},
    "klingon_line": {"language": "Klingon"},
}
"""Section overrides of an honest completion, scored by the format reward."""


# ----- mutation search ------------------------------------------------------------------------

def _inner_span(pieces: list[str], rng: random.Random) -> tuple[int, int] | None:
    """One to three inner words holding a content word."""
    length = rng.choice((1, 2, 3))
    starts = [start for start in range(1, len(pieces) - length)
              if content_words(" ".join(pieces[start:start + length]))]
    if not starts:
        return None
    start = rng.choice(starts)
    return start, start + length


def mutate(quote: str, edit: str, rng: random.Random) -> str | None:
    """One meaning-changing edit of an honest quote (``None`` when it does not apply).

    >>> rng = random.Random(0)
    >>> mutate("Ann Lee met Bob Ray in 1990 at the old market.", "change_digit", rng)
    'Ann Lee met Bob Ray in 1997 at the old market.'
    >>> mutate("Ann Lee met Bob Ray in 1990 at the old market.", "swap_names", rng)
    'Ann Bob met Lee Ray in 1990 at the old market.'
    """
    pieces = quote.split()
    if edit in ("delete_words", "insert_elision"):
        span = _inner_span(pieces, rng)
        if span is None:
            return None
        middle = ["(\u2026)"] if edit == "insert_elision" else []
        return " ".join(pieces[:span[0]] + middle + pieces[span[1]:])
    if edit == "change_digit":
        digits = [index for index, char in enumerate(quote) if char.isdigit()]
        if not digits:
            return None
        at = rng.choice(digits)
        return quote[:at] + rng.choice([d for d in "0123456789" if d != quote[at]]) + quote[at + 1:]
    if edit == "cut_word":
        if len(pieces[0]) >= 4 and pieces[0].isalpha():
            return quote[rng.randint(1, len(pieces[0]) - 2):]
        last = pieces[-1].rstrip(".,;:!?\"')")
        return quote[:quote.rfind(last) + rng.randint(1, len(last) - 2)] if len(last) >= 4 and last.isalpha() else None
    names = [index for index, piece in enumerate(pieces[1:], 1)
             if piece[:1].isupper() and piece.isalpha() and piece.lower() not in ANY_FUNCTION_WORD]
    if edit == "swap_names" and len(names) >= 2:
        first, second = rng.sample(names, 2)
        if pieces[first] != pieces[second]:
            pieces[first], pieces[second] = pieces[second], pieces[first]
            return " ".join(pieces)
    return None


MUTATIONS = ("delete_words", "insert_elision", "change_digit", "cut_word", "swap_names")


# ----- building and scoring -------------------------------------------------------------------

def cases(rows: Sequence[Mapping[str, Any]], seed: int = 0, mutations: int = 3) -> Iterator[Case]:
    """Every case the red team scores, built from ``rows``.

    >>> kinds = {case.kind for case in cases(real_rows(2))}
    >>> {"gold", "stitched", "counting", "paraphrase", "delete_words"} <= kinds
    True
    """
    for number, row in enumerate(rows):
        rng = random.Random(f"{seed}:{number}")
        gold = supporting_evidence(row)
        for kind, build in HONEST.items():
            built = build(row, rng)
            refs, judged_row = built if isinstance(built, tuple) else (built, row)
            if refs:
                yield Case(kind, "honest", completion(judged_row, refs), judged_row)
        yield Case("gold", "honest", completion(row, gold), row, "format")
        for kind, attack in ATTACKS.items():
            bad = attack(row, rng)
            if bad is not None and bad[1].strip():
                yield Case(kind, "all_bad", completion(row, [bad]), row)
                padding = gold + [quote for quote in _whole_sentences(row) if quote not in gold][:2]
                yield Case(kind, "one_bad", completion(row, padding + [bad]), row)
        tiny = tiny_refs(row, rng)
        if tiny:
            yield Case("tiny_refs", "all_bad", completion(row, tiny), row)
        for kind, overrides in FORMAT_ATTACKS.items():
            yield Case(kind, "format", completion(row, gold, **overrides), row, "format")
        yield from _paraphrase_cases(row, rng)
        yield from _mutation_cases(row, rng, mutations)


def _paraphrase_cases(row: Mapping[str, Any], rng: random.Random) -> Iterator[Case]:
    """A light paraphrase of the first gold sentence, under a query opening with its words (the
    A5117 false alarm: no query copy)."""
    source_id, sentence = supporting_evidence(row)[0]
    reworded = paraphrase(sentence, rng)
    if reworded != sentence:
        half = " ".join(reworded.split()[:max(3, len(reworded.split()) // 2)])
        yield Case("paraphrase", "between", completion(row, [(source_id, reworded)]),
                   {**row, "query": f"{half} what?"})


def _mutation_cases(row: Mapping[str, Any], rng: random.Random, count: int) -> Iterator[Case]:
    quotes = supporting_evidence(row) + (honest_numbers(row, rng) or [])
    for source_id, quote in quotes:
        for edit in rng.sample(MUTATIONS, min(count, len(MUTATIONS))):
            mutated = mutate(quote, edit, rng)
            if mutated is not None and mutated.strip() != quote.strip():
                yield Case(edit, "mutation", completion(row, [(source_id, mutated)]), row)


def language_cases(rows: Sequence[Mapping[str, Any]], seed: int = 0) -> list[Case]:
    """The language attacks of ``benchmarks/language_attacks.py`` (developer ``lang``:
    ``attack_cases(rows, seed)`` yields ``(kind, completion, row)``), as cases of the
    ``language`` reward.

    >>> sorted({case.kind for case in language_cases(real_rows(1))})[:2]
    ['foreign_padded', 'foreign_script']
    """
    return [Case(kind, "language", text, row, "language")
            for kind, text, row in language_attacks.attack_cases(rows, seed)]


def score_cases(all_cases: Sequence[Case]) -> dict[tuple[str, str], list[float]]:
    """Scores by (group, kind), each case judged by its reward (``None`` counts as 0).

    >>> scores = score_cases([Case("x", "honest", completion({}, [(1, "It runs to Helsby.")]),
    ...                            {"sources": ["It runs to Helsby."]})])
    >>> scores[("honest", "x")]
    [1.0]
    """
    from pleias_rl.rewards.language import LanguageReward

    rewards: dict[str, Reward] = {"citation": CitationReward(), "format": FormatReward(),
                                  "language": LanguageReward()}
    scores: dict[tuple[str, str], list[float]] = {}
    for case in all_cases:
        value = rewards[case.reward].explain(case.completion, case.row)[0]
        scores.setdefault((case.group, case.kind), []).append(value or 0.0)
    return scores


ATTACK_GROUPS = ("all_bad", "one_bad", "format", "language")
HONEST_MIN, ALL_BAD_MAX, ONE_BAD_MAX, FORMAT_MAX, AUC_MIN, MUTATION_PAY_MAX = 0.95, 0.3, 0.5, 0.5, 0.99, 0.02


def targets(scores: Mapping[tuple[str, str], Sequence[float]]) -> list[tuple[str, float, str, bool]]:
    """Each target as ``(what, measured, wanted, met)``.

    >>> all(met for *_, met in targets(score_cases(list(cases(real_rows(3))))))
    True
    """
    rows: list[tuple[str, float, str, bool]] = []

    def check(what: str, value: float, wanted: str, met: bool) -> None:
        rows.append((what, value, wanted, value == value and met))

    limits = {"honest": HONEST_MIN, "all_bad": ALL_BAD_MAX, "one_bad": ONE_BAD_MAX,
              "format": FORMAT_MAX, "language": 0.0}
    for (group, kind), values in scores.items():
        if group in limits and values:
            value, limit = mean(values), limits[group]
            if group == "honest":
                check(f"{group} {kind} mean", value, f">= {limit}", value >= limit)
            else:
                check(f"{group} {kind} mean", value, f"<= {limit}", value <= limit)
    honest = [v for (group, _), values in scores.items() if group == "honest" for v in values]
    attacks = [v for (group, _), values in scores.items() if group in ATTACK_GROUPS for v in values]
    check("AUC honest vs attacks", auc(honest, attacks), f">= {AUC_MIN}", auc(honest, attacks) >= AUC_MIN)
    mutated = [v for (group, _), values in scores.items() if group == "mutation" for v in values]
    share = sum(v >= PAYS for v in mutated) / len(mutated) if mutated else float("nan")
    check("mutations still >= 0.9", share, f"< {MUTATION_PAY_MAX:.0%}", share < MUTATION_PAY_MAX)
    between = mean(scores.get(("between", "paraphrase"), [float("nan")]))
    low = mean(scores.get(("all_bad", "fabricated"), [float("nan")]))
    high = mean(scores.get(("honest", "gold"), [float("nan")]))
    check("paraphrase mean", between, f"in ({low:.2f}, {high:.2f})", low < between < high)
    return rows


def report(scores: Mapping[tuple[str, str], Sequence[float]]) -> str:
    """The per-class table (n, mean, max, share >= 0.9), then the targets.

    >>> "AUC honest vs attacks" in report(score_cases(list(cases(real_rows(1)))))
    True
    """
    lines = [f"{'group':<10}{'class':<24}{'n':>5}{'mean':>8}{'max':>8}{'pays':>8}"]
    for (group, kind), values in sorted(scores.items()):
        pays = sum(v >= PAYS for v in values) / len(values)
        lines.append(f"{group:<10}{kind:<24}{len(values):>5}{mean(values):>8.3f}{max(values):>8.3f}{pays:>8.1%}")
    return "\n".join(lines + [""] + target_lines(targets(scores), width=40))


def main(argv: list[str] | None = None) -> int:
    """Build, score and print; return 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100, help="records per dataset (HotpotQA, MuSiQue)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mutations", type=int, default=3, help="mutations per honest quote")
    args = parser.parse_args(argv)
    rows = real_rows(args.size)
    all_cases = list(cases(rows, args.seed, args.mutations)) + language_cases(rows, args.seed)
    scores = score_cases(all_cases)
    print(f"red team on {len(rows)} real records ({len(all_cases)} cases)\n")
    print(report(scores))
    return print_verdict(targets(scores))


if __name__ == "__main__":
    sys.exit(main())
