"""Language attacks and honest controls built from real rows, for the red team and the language tests.

:func:`attack_cases` turns each row into completions that a gamed language reward would pay and
the real one must score 0 (gibberish: 0 or ``None``): answers in another script or in another
Latin-script language (sentences of ``tests/fixtures/language_sentences.json``, the row's gold
answer and a ref quoting the row's own source added), the same with a few of the row language's
function words appended or sprinkled between every word, consonant and keyboard gibberish and
random letter soup. :func:`honest_cases` builds the controls that must keep full credit: the
row's supporting sentences restated, a short answer naming the gold answer, an answer quoting a
source in another language, and the fixture's answers in each supported language for rows
relabelled to that language.

Run: ``python benchmarks/language_attacks.py [rows]`` prints n, mean, max and the share paying
(>= 0.9) per kind, and exits 1 when an attack mean is above 0 or an honest mean below 0.95.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from statistics import mean
from typing import Any, Iterator, Mapping, Sequence

from pleias_rl.data.format import format_ref, neutralise, render_completion
from pleias_rl.data.language import FUNCTION_WORDS, language_name
from pleias_rl.data.schema import source_texts
from pleias_rl.rewards.language import expected_language, language_reward

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "language_sentences.json"
SAMPLES = ROOT / "data" / "samples" / "rl.jsonl"
OTHER_SCRIPTS: tuple[str, ...] = ("ru", "uk", "el", "zh", "ja", "ar", "he", "hi")
"""Fixture languages written in another script than Latin (the rest of ``_other_languages`` is Latin script)."""

Case = tuple[str, str, Mapping[str, Any]]
"""``(kind, completion, row)``: what the red team's language hook reads."""


def _fixture() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def shipped_rows(limit: int = 20) -> list[dict[str, Any]]:
    """The first rows of the shipped GRPO sample (real HotpotQA/MuSiQue records).

    >>> [row["language"] for row in shipped_rows(2)]
    ['en', 'en']
    """
    with SAMPLES.open(encoding="utf-8") as lines:
        return [json.loads(line) for line, _ in zip(lines, range(limit))]


def completion_with_answer(row: Mapping[str, Any], prose: str, quote: str | None = None) -> str:
    """A Trivial-path completion whose answer is ``prose`` with a ref to source 1 before its
    final punctuation, the language line naming the row's language.

    >>> completion_with_answer({"language": "fr"}, "Oui, c'est Lima.", "Lima").startswith("French<|language_end|>")
    True
    """
    expected = expected_language(row)[0] or "en"
    body = prose.rstrip(".!?。")
    ref = format_ref(1, neutralise(quote)) if quote else ""
    return render_completion(language=language_name(expected) or "English", query_report="Trivial",
                             query_analysis="The query asks for one fact.",
                             answer=body + ref + prose[len(body):])


def _source_quote(row: Mapping[str, Any]) -> str:
    """The first sentence of the row's first source (an honest English quote)."""
    texts = source_texts(row.get("sources"))
    return texts[0].split(". ")[0].strip() if texts else "the source"


def _gold(row: Mapping[str, Any]) -> str:
    return str(row.get("answer") or "Helsby")


def sprinkled(prose: str, function_words: Sequence[str], rng: random.Random) -> str:
    """A function word of the row's language after every word of ``prose``.

    >>> sprinkled("Byen blev grundlagt.", ["the"], random.Random(0))
    'Byen the blev the grundlagt. the'
    """
    return " ".join(f"{word} {rng.choice(function_words)}" for word in prose.split())


def gibberish(rng: random.Random, alphabet: str, words: int = 8) -> str:
    """A sentence of random words (3 to 8 letters) drawn from ``alphabet``.

    >>> gibberish(random.Random(0), "bcdfg", 2)
    'Fbdgff fdgcg.'
    """
    text = " ".join("".join(rng.choice(alphabet) for _ in range(rng.randint(3, 8))) for _ in range(words))
    return text[0].upper() + text[1:] + "."


def attack_cases(rows: Sequence[Mapping[str, Any]], seed: int = 0) -> Iterator[Case]:
    """Every language attack for each row: ``(kind, completion, row)``; each must score 0
    (``None`` also accepted for the gibberish kinds).

    >>> kinds = sorted({kind for kind, _, _ in attack_cases(shipped_rows(2))})
    >>> kinds[:4]
    ['foreign_padded', 'foreign_script', 'foreign_script_with_tail', 'gibberish_consonants']
    """
    rng = random.Random(seed)
    other = _fixture()["_other_languages"]
    scripts = [sentence for code in OTHER_SCRIPTS for sentence in other[code]]
    latin = [sentence for code, sentences in other.items() if code not in OTHER_SCRIPTS for sentence in sentences]
    keyboard = _fixture()["_gibberish"]
    for row in rows:
        expected = expected_language(row)[0] or "en"
        function_words = sorted(FUNCTION_WORDS[expected])
        gold, quote = _gold(row), _source_quote(row)
        tail = " " + " ".join(rng.sample(function_words, 4)) + "."
        foreign = rng.choice(latin)
        for kind, prose in (
                ("foreign_script", f"{rng.choice(scripts)} {gold}."),
                ("foreign_script_with_tail", f"{rng.choice(scripts)} {gold}{tail}"),
                ("other_language", f"{foreign} {gold}."),
                ("other_language_with_tail", f"{foreign} {gold}{tail}"),
                ("foreign_padded", sprinkled(f"{rng.choice(latin)} {gold}.", function_words, rng)),
                ("gibberish_consonants", gibberish(rng, "bcdfghjklmnpqrstvwxz")),
                ("gibberish_letters", gibberish(rng, "abcdefghijklmnopqrstuvwxyz")),
                ("gibberish_keyboard", f"{rng.choice(keyboard)} {gold}.")):
            yield kind, completion_with_answer(row, prose, quote), row


def honest_cases(rows: Sequence[Mapping[str, Any]], seed: int = 0) -> Iterator[Case]:
    """Honest answers that must keep full credit: ``(kind, completion, row)``.

    >>> sorted({kind for kind, _, _ in honest_cases(shipped_rows(1))})
    ['foreign_quote', 'oracle_reworded', 'short_answer', 'supporting_sentence', 'translated_answer']
    """
    rng = random.Random(seed)
    fixture = _fixture()
    quotes_elsewhere = [sentence for sentences in fixture["_other_languages"].values() for sentence in sentences]
    for row in rows:
        gold, quote = _gold(row), _source_quote(row)
        sentences = [sentence for _, sentence in row.get("meta", {}).get("supporting_sentences", [])]
        for sentence in sentences[:2]:
            yield "supporting_sentence", completion_with_answer(row, sentence.strip(), quote), row
        yield "short_answer", completion_with_answer(row, f"The answer is {gold}.", quote), row
        yield ("oracle_reworded", completion_with_answer(  # few content words: "Source" leans French
            row, f"It is {gold}. Source 1 supports this. Source 2 confirms it.", quote), row)
        yield ("foreign_quote", completion_with_answer(
            row, f"The sources say that the answer is {gold}.", rng.choice(quotes_elsewhere)), row)
        code = rng.choice([code for code in fixture if not code.startswith("_")])
        relabelled = {**row, "language": code}
        answer = rng.choice(fixture[code]["answers"])
        yield "translated_answer", completion_with_answer(relabelled, answer, quote), relabelled


def score_by_kind(cases: Iterator[Case]) -> dict[str, list[float | None]]:
    """The language reward's scores grouped by kind.

    >>> scores = score_by_kind(honest_cases(shipped_rows(1)))
    >>> min(score for values in scores.values() for score in values)
    1.0
    """
    scores: dict[str, list[float | None]] = {}
    for kind, completion, row in cases:
        scores.setdefault(kind, []).append(language_reward.explain(completion, row)[0])
    return scores


def main(argv: list[str]) -> int:
    """Print the table of attacks and controls; 1 when a target is missed."""
    rows = shipped_rows(int(argv[0]) if argv else 150)
    print(f"{'group':8}{'kind':28}{'n':>5}{'mean':>8}{'max':>8}{'pays':>8}{'None':>6}")
    missed = False
    for group, cases in (("attack", attack_cases(rows)), ("honest", honest_cases(rows))):
        for kind, values in score_by_kind(cases).items():
            numbers = [value or 0.0 for value in values]
            pays = sum(value >= 0.9 for value in numbers) / len(numbers)
            print(f"{group:8}{kind:28}{len(numbers):5d}{mean(numbers):8.3f}{max(numbers):8.3f}{pays:8.1%}"
                  f"{values.count(None):6d}")
            allowed_none = kind.startswith("gibberish")
            missed |= (group == "attack" and (max(numbers) > 0 or (None in values and not allowed_none))) or (
                group == "honest" and mean(numbers) < 0.95)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
