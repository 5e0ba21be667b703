"""Language reward accuracy: correct match/mismatch decisions on en fr de it es pl pt la.

Queries are short (20-40 characters) and the expected language is detected from the query (no
``language`` column); every answer carries an English quote inside a ref, which must not sway
the decision. Each query is paired with its own-language answer (a match) and with an answer in
each of the 7 other languages (mismatches). A decision is correct when a match scores > 0 and a
mismatch scores 0 (``None`` counts as wrong). The baseline is the same decision made with
py3langid unrestricted (all its languages) and without removing refs, measured in the same run.

Run: ``python benchmarks/language_accuracy.py`` (target: >= 95% for every language).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

from pleias_rl.data.format import format_ref, render_completion
from pleias_rl.data.language import language_name
from pleias_rl.rewards.language import language_reward

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "language_sentences.json"
LANGUAGES: tuple[str, ...] = ("en", "fr", "de", "it", "es", "pl", "pt", "la")


def load_sentences(path: Path = FIXTURE) -> dict[str, dict[str, list[str]]]:
    """The held-out sentences: ``{lang: {"queries": [...], "answers": [...]}}``.

    >>> sorted(load_sentences())[:3]
    ['de', 'en', 'es']
    """
    data = json.loads(path.read_text(encoding="utf-8"))
    return {code: value for code, value in data.items() if not code.startswith("_")}


def answer_with_english_quote(answer: str, quote: str) -> str:
    """Put an English quote in a ref just before the answer's final punctuation.

    >>> answer_with_english_quote("Lima est la capitale.", "Lima is the capital")
    'Lima est la capitale<ref name="<|source_id|>1">Lima is the capital</ref>.'
    """
    body = answer.rstrip(".!?")
    return body + format_ref(1, quote) + answer[len(body):]


def decision_cases(sentences: dict[str, dict[str, list[str]]]) -> Iterator[tuple[str, str, str, str]]:
    """Yield ``(query_language, answer_language, query, completion)`` for every pair.

    >>> next(decision_cases(load_sentences()))[:3]
    ('en', 'en', 'Who founded the city?')
    """
    english = sentences["en"]["answers"]
    for query_language in LANGUAGES:
        for index, query in enumerate(sentences[query_language]["queries"]):
            for answer_language in LANGUAGES:
                answer = sentences[answer_language]["answers"][index]
                completion = render_completion(
                    language=language_name(query_language) or "English",
                    query_analysis="The query asks for a fact.", query_report="Trivial",
                    answer=answer_with_english_quote(answer, english[(index + 1) % len(english)]))
                yield query_language, answer_language, query, completion


def reward_decides_match(query: str, completion: str) -> bool | None:
    """The language reward's decision: True (match), False (mismatch) or None (no decision).

    >>> reward_decides_match("Quelle est la capitale du Pérou ?",
    ...     "French<|language_end|><|answer_start|>La capitale du Pérou est Lima.<|answer_end|>")
    True
    """
    score = language_reward(completions=[completion], query=[query])[0]
    return None if score is None else score > 0


def baseline_decides_match(query: str, completion: str) -> bool | None:
    """The naive decision: unrestricted py3langid on the query and on the raw answer text."""
    import py3langid

    answer = completion.split("<|answer_start|>")[-1].split("<|answer_end|>")[0]
    return py3langid.classify(query)[0] == py3langid.classify(answer)[0]


def accuracy_by_language(decide: Callable[[str, str], bool | None],
                         sentences: dict[str, dict[str, list[str]]]) -> dict[str, float]:
    """Share of correct decisions per query language.

    >>> accuracy_by_language(reward_decides_match, load_sentences())["fr"] >= 0.95
    True
    """
    correct: dict[str, int] = {}
    total: dict[str, int] = {}
    for query_language, answer_language, query, completion in decision_cases(sentences):
        decided = decide(query, completion)
        expected = query_language == answer_language
        correct[query_language] = correct.get(query_language, 0) + (decided is expected)
        total[query_language] = total.get(query_language, 0) + 1
    return {code: correct[code] / total[code] for code in total}


def main() -> int:
    """Print accuracy per language and speed for the reward and the baseline."""
    sentences = load_sentences()
    language_reward(completions=["warm-up"], query=["Warm up the language identifier."])
    rows = []
    cases = sum(1 for _ in decision_cases(sentences))
    for label, decide in (("language reward", reward_decides_match),
                          ("baseline (unrestricted, refs kept)", baseline_decides_match)):
        start = time.perf_counter()
        accuracy = accuracy_by_language(decide, sentences)
        rows.append((label, accuracy, (time.perf_counter() - start) / cases * 1e6))
    print(f"{'':36}" + "".join(f"{code:>7}" for code in LANGUAGES) + f"{'all':>7}{'us/case':>9}")
    for label, accuracy, micros in rows:
        overall = sum(accuracy.values()) / len(accuracy)
        print(f"{label:36}" + "".join(f"{accuracy[c]:7.1%}" for c in LANGUAGES)
              + f"{overall:7.1%}{micros:9.0f}")
    ours, base = rows[0][1], rows[1][1]
    per_language = cases / len(LANGUAGES)
    print(f"n = {per_language:.0f} decisions per language ({per_language / len(LANGUAGES):.0f} matches, "
          f"{per_language * (len(LANGUAGES) - 1) / len(LANGUAGES):.0f} mismatches), {cases} in all")
    print(f"wrong decisions: reward {sum(1 - v for v in ours.values()) * per_language:.0f}, "
          f"baseline {sum(1 - v for v in base.values()) * per_language:.0f} (of {cases})")
    return 0 if min(ours.values()) >= 0.95 else 1


if __name__ == "__main__":
    sys.exit(main())
