"""``language``: the answer (refs removed) is written in the query's language.

The expected language is the row's ``language`` (an ISO 639-1 code or an English name) when
given, else the language detected from the query. Scoring:

- 1.0: the answer's own words are in the expected language and the language line names it;
- :data:`WRONG_LINE_CREDIT` (0.75): the answer is in the right language but the language line is
  missing or names another language;
- 0.0: the answer is in another language, or the answer is missing or empty;
- ``None``: the expected language is unknown, or the answer is too short to judge (a name, a
  number, "Yes.").
"""

from __future__ import annotations

from typing import Any, Mapping

from pleias_rl.data.language import clear_cache, detect_language, language_code, language_name
from pleias_rl.rewards.base import Reward, Score, parse_cached
from pleias_rl.rewards.text import register_cache

register_cache(clear_cache)  # pleias_rl.rewards.text.clear_caches() also forgets detected languages

WRONG_LINE_CREDIT = 0.75
"""Score of a right-language answer whose language line does not name that language."""


def expected_language(row: Mapping[str, Any]) -> tuple[str | None, str]:
    """The language the answer must be in, and where it came from (``"row"``/``"query"``).

    >>> expected_language({"language": "fr", "query": "Who?"})
    ('fr', 'row')
    >>> expected_language({"query": "Quelle est la capitale de la France ?"})
    ('fr', 'query')
    >>> expected_language({})
    (None, 'query')
    """
    from_row = language_code(row.get("language"))
    if from_row is not None:
        return from_row, "row"
    return detect_language(row.get("query"))[0], "query"


class LanguageReward(Reward):
    """Reward answers written in the query's language (see the module docstring for the scale).

    >>> done = "<|answer_end|>"
    >>> fr = "French<|language_end|><|answer_start|>La capitale de la France est Paris." + done
    >>> en = "French<|language_end|><|answer_start|>The capital of France is Paris." + done
    >>> language_reward(completions=[fr, en, fr.replace("French", "English")],
    ...                 query=["Quelle est la capitale de la France ?"] * 3)
    [1.0, 0.0, 0.75]
    """

    name = "language"

    def score_row(self, text: str, row: Mapping[str, Any]) -> tuple[Score, dict[str, Any]]:
        """Score one completion against the row's expected language."""
        expected, origin = expected_language(row)
        parsed = parse_cached(text)
        diagnostics: dict[str, Any] = {"expected": expected, "expected_from": origin,
                                       "language_line": parsed.language}
        if expected is None:
            return None, diagnostics
        if parsed.answer is None or not parsed.answer.strip():
            return 0.0, {**diagnostics, "answer_language": None, "reason": "no answer"}
        detected, confidence = detect_language(parsed.prose)
        diagnostics.update(answer_language=detected, confidence=round(confidence, 4))
        if detected is None:
            return None, {**diagnostics, "reason": "answer too short to judge"}
        line_ok = language_code(parsed.language) == expected
        diagnostics["metrics"] = {"answer_match": float(detected == expected),
                                  "line_match": float(line_ok)}
        if detected != expected:
            return 0.0, {**diagnostics, "reason": f"answer in {language_name(detected)}, "
                                                  f"expected {language_name(expected)}"}
        return (1.0 if line_ok else WRONG_LINE_CREDIT), diagnostics


language_reward = LanguageReward()
"""The default :class:`LanguageReward` instance (TRL reward function ``language``)."""
