"""``language``: the answer (refs removed) is written in the query's language.

The expected language is the row's ``language`` (an ISO 639-1 code or an English name) when
given, else the language detected from the query. Scoring:

- 1.0: the answer's own words are in the expected language and the language line names it;
- :data:`WRONG_LINE_CREDIT` (0.75): the answer is in the right language but the language line is
  missing or names another language;
- 0.0: the answer is in another language, the answer is missing or empty, or one of the checks
  below fails;
- ``None``: the expected language is unknown, or the answer is too short to judge (a name, a
  number, "Yes."); a short answer that is likeliest in the expected language
  (:func:`short_answer_check`) is a match.

First the cheap check that passes the common, honest answer: :func:`content_language_check`
(after :func:`script_check`). When it is unsure, the full checks run, in order; each one's
verdict is in the diagnostics (``checks``), ``"ok"`` when it passes, and the first that fails
decides (the last three are judged again without the names found in the row's sources):

- :func:`script_check`: the bulk of the letters is Latin script (every supported language is);
- :func:`gibberish_check`: the prose is language, not letter soup;
- :func:`other_language_check`: the prose is not confidently in a language outside the supported
  set (Welsh, Swedish, Russian...);
- :func:`answer_language_check`: the likeliest supported language is the expected one;
- :func:`padding_check`: the answer's content words, the expected language's function words
  removed, are not in another language (a foreign answer padded with "the of and" fails).
"""

from __future__ import annotations

import re
from typing import Any, Mapping, NamedTuple

from pleias_rl.data.language import (
    DETECTABLE, NO_LANGUAGE, WORD, LanguageScores, clear_cache, content_words, detect_language,
    language_code, language_name, likeliest_label, language_scores, latin_letters_only, latin_share, words,
)
from pleias_rl.data.schema import source_texts
from pleias_rl.rewards.base import Reward, Score, parse_cached
from pleias_rl.rewards.text import register_cache

register_cache(clear_cache)  # pleias_rl.rewards.text.clear_caches() also forgets detected languages

WRONG_LINE_CREDIT = 0.75
"""Score of a right-language answer whose language line does not name that language."""

MIN_LATIN_SHARE = 0.75
"""Below this share of Latin-script letters, the answer is in another script."""

CONFIDENT = 0.5
"""A label ranked first with at least this probability (over every label) is taken at its word."""

DOMINANCE = 4.0
"""An outside language must also be this many times as likely as all supported ones together."""

MAX_VOWELLESS_SHARE = 0.2
"""More than this share of lower-case words without a vowel (two at least) is consonant gibberish."""

PADDING_MIN_LETTERS = 30
"""Content words with fewer letters than this are judged by :data:`PADDING_CONFIDENT` alone;
with fewer than twice as many, another language must also be :data:`PADDING_LIKELY` (a short
honest answer's few content words, "spirit Source supports Source confirms", lean French at 0.27)."""

PADDING_LIKELY = 0.4
"""The least probability of another language's label that makes 30 to 59 content letters padded."""

PADDING_CONFIDENT = 0.8
"""Content words ranked first in another language with at least this probability are padded,
even when the expected language is the likeliest of the supported ones."""

SHORT_MIN_LETTERS = 6
"""An answer with fewer letters than :data:`~pleias_rl.data.language.MIN_LETTERS` but at least
these is judged by :func:`short_answer_check` alone: a match or ``None``, never 0."""

OK = "ok"
"""The verdict of a check that passes."""

_VOWELS = set("aeiouyàáâãäåæèéêëìíîïòóôõöøùúûüýÿąęœ")
_LOWER_WORD = re.compile(r"(?<![^\W\d_])[a-zß-ÿ][^\W\d_]{2,}")
"""A run of three letters or more that starts lower-case (not preceded by a letter: the whole run)."""
RECHECKED = ("other_language", "answer_language", "padded")
"""Failures judged again without the names taken from the row's query and sources."""


def script_check(prose: str) -> str:
    """``"foreign_script"`` when fewer than :data:`MIN_LATIN_SHARE` of the letters are Latin.

    >>> script_check("Москва — столица России, and it is big."), script_check("Tokyo (東京) is the capital.")
    ('foreign_script', 'ok')
    """
    return OK if latin_share(prose) >= MIN_LATIN_SHARE else "foreign_script"


def gibberish_check(prose: str, scores: LanguageScores) -> str:
    """``"gibberish"`` when the identifier finds no language (py3langid's ``zxx`` ranked first,
    confidently or :data:`DOMINANCE` times as likely as every supported language together) or when
    many lower-case words have no vowel (names and acronyms are capitalised).

    >>> from pleias_rl.data.language import language_scores
    >>> text = "Brzkt vlqmp srtnk xwzgh trvbk mnzlp qxrst."
    >>> gibberish_check(text, language_scores(text))
    'gibberish'
    >>> text = "Zzbg clmetoja wxylu uslg ycndmt rfw eqnf numly."  # zxx 0.44, every supported one 0.06
    >>> gibberish_check(text, language_scores(text))
    'gibberish'
    >>> text = "Zbigniew Brzeziński was born in Warsaw in 1928."
    >>> gibberish_check(text, language_scores(text))
    'ok'
    """
    if scores.top == NO_LANGUAGE and (scores.top_share >= CONFIDENT
                                      or scores.top_share >= DOMINANCE * scores.supported_share):
        return "gibberish"
    return "gibberish" if _vowelless(prose) else OK


def other_language_check(scores: LanguageScores) -> str:
    """``"other_language:<code>"`` when a language outside the supported set is ranked first
    confidently and dominates every supported language together.

    >>> from pleias_rl.data.language import language_scores
    >>> other_language_check(language_scores("Mae'r afon hiraf yn llifo am fwy na phedair mil o gilometrau."))
    'other_language:cy'
    >>> other_language_check(language_scores("Grace Krilanovich (born October 5, 1979) is an American author."))
    'ok'
    """
    if (scores.top not in DETECTABLE and scores.top != NO_LANGUAGE and scores.top_share >= CONFIDENT
            and scores.top_share >= DOMINANCE * scores.supported_share):
        return f"other_language:{scores.top}"
    return OK


def answer_language_check(scores: LanguageScores, expected: str) -> str:
    """``"answer_language:<code>"`` when the likeliest supported language is not the expected one.

    >>> from pleias_rl.data.language import language_scores
    >>> answer_language_check(language_scores("La capitale du Pérou est Lima."), "fr")
    'ok'
    >>> answer_language_check(language_scores("La capitale du Pérou est Lima."), "en")
    'answer_language:fr'
    """
    return OK if scores.best == expected else f"answer_language:{scores.best}"


def padding_check(prose: str, expected: str) -> str:
    """``"padded:<code>"`` when the content words (the expected language's function words
    removed) are in another language: closer to another supported language than to the expected
    one, or confidently in a language outside the set. The bulk of the answer decides, not the
    function words sprinkled over it.

    >>> padding_check("Sefydlwyd the y ddinas of gan fasnachwyr and a in ymgartrefodd the ger yr harbwr.", "en")
    'padded:cy'
    >>> padding_check("The city was founded by merchants who settled near the harbour.", "en")
    'ok'
    >>> padding_check("It is a spirit. Source 10 supports this. Source 6 confirms it.", "en")
    'ok'
    """
    content = content_words(words(prose), expected)
    scores = language_scores(" ".join(content))
    if scores is None or scores.top == expected or scores.top_share >= PADDING_CONFIDENT:
        return OK if scores is None or scores.top == expected else f"padded:{scores.top}"
    letters = sum(map(len, content))
    closer_to_another = scores.best != expected and letters >= PADDING_MIN_LETTERS and (
        letters >= 2 * PADDING_MIN_LETTERS or scores.top_share >= PADDING_LIKELY)
    return f"padded:{scores.top}" if closer_to_another else OK


def content_language_check(prose: str, expected: str) -> str:
    """``"ok"`` when the content words (the expected language's function words removed) are, of
    every label py3langid knows, likeliest in the expected language and have a vowel in most
    lower-case words: the bulk of the answer is that language, so it is neither padded, nor in
    another language, nor gibberish, and the full checks (a ranking of every label) are skipped;
    else ``"unsure"`` and they decide. One cheap ``classify``: the common, honest case.

    >>> content_language_check("The city was founded by merchants who settled near the harbour.", "en")
    'ok'
    >>> content_language_check("Sefydlwyd the y ddinas of gan fasnachwyr a ymgartrefodd ger yr harbwr.", "en")
    'unsure'
    """
    content = " ".join(content_words(words(prose), expected))
    likeliest = likeliest_label(content)
    if likeliest is None or likeliest[0] != expected or _vowelless(prose):
        return "unsure"
    return OK


def short_answer_check(prose: str, expected: str) -> str:
    """``"ok"`` when a short answer (too short for the other checks) is, of every label, likeliest
    in the expected language and is not consonant soup; else ``"unsure"`` (the answer is not judged).

    >>> short_answer_check("The answer is 1924.", "en"), short_answer_check("La réponse est 1924.", "en")
    ('ok', 'unsure')
    """
    likeliest = likeliest_label(prose, SHORT_MIN_LETTERS)
    return OK if likeliest is not None and likeliest[0] == expected and not _vowelless(prose) else "unsure"


def _vowelless(prose: str) -> bool:
    """More than :data:`MAX_VOWELLESS_SHARE` of the lower-case words (two at least) lack a vowel."""
    lower_case = _LOWER_WORD.findall(prose)
    vowelless = sum(map(_VOWELS.isdisjoint, lower_case))
    return vowelless >= 2 and vowelless / len(lower_case) > MAX_VOWELLESS_SHARE


def language_checks(prose: str, scores: LanguageScores, expected: str) -> dict[str, str]:
    """Every check's verdict, in order; the checks after the first failure are not run.

    >>> from pleias_rl.data.language import language_scores
    >>> text = "The capital of Peru is Lima, a large city on the Pacific coast."
    >>> language_checks(text, language_scores(text), "en")
    {'script': 'ok', 'gibberish': 'ok', 'other_language': 'ok', 'answer_language': 'ok', 'padding': 'ok'}
    >>> language_checks("Столица Перу — Лима.", language_scores("Столица Перу — Лима."), "en")
    {'script': 'foreign_script'}
    """
    checks = (("script", lambda: script_check(prose)), ("gibberish", lambda: gibberish_check(prose, scores)),
              ("other_language", lambda: other_language_check(scores)),
              ("answer_language", lambda: answer_language_check(scores, expected)),
              ("padding", lambda: padding_check(prose, expected)))
    verdicts: dict[str, str] = {}
    for name, check in checks:
        verdicts[name] = check()
        if verdicts[name] != OK:
            break
    return verdicts


def without_source_names(prose: str, row: Mapping[str, Any]) -> str:
    """The prose without the capitalised words that the row's query or sources also contain:
    names and titles copied from the sources say nothing of the language the answer is written in.

    >>> without_source_names("The answer is Georg Philipp Telemann.",
    ...                      {"query": "Who?", "sources": ["Georg Philipp Telemann was a composer."]})
    'The answer is   .'
    """
    names = {word for word in words(prose) if word[:1].isupper()}
    if not names:
        return prose
    texts = [str(row.get("query") or ""), *source_texts(row.get("sources"))]
    found = {word for text in texts for word in words(text) if word in names}
    if not found:
        return prose
    return WORD.sub(lambda match: "" if match.group() in found else match.group(), prose)


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


def _reason(verdict: str, expected: str) -> str:
    """The sentence a failed check's verdict stands for (diagnostics and critics)."""
    kind, _, code = verdict.partition(":")
    expected_name = language_name(expected)
    return {"foreign_script": f"answer not in Latin script, expected {expected_name}",
            "gibberish": f"answer is not language (gibberish), expected {expected_name}",
            "other_language": f"answer in a language outside the supported set ({code}), expected {expected_name}",
            "answer_language": f"answer in {language_name(code)}, expected {expected_name}",
            "padded": f"answer's content words in {language_name(code) or code}, padded with "
                      f"{expected_name} function words"}[kind]


def first_failure(checks: Mapping[str, str]) -> str | None:
    """The verdict of the first check that failed, or ``None`` when every one passed.

    >>> first_failure({"script": "ok", "gibberish": "gibberish"}), first_failure({"script": "ok"})
    ('gibberish', None)
    """
    return next((verdict for verdict in checks.values() if verdict != OK), None)


class Judgement(NamedTuple):
    """What the checks decided of an answer's prose: the first failed verdict (``None``: in the
    expected language, or too short to judge), whether it was too short to judge, and the
    diagnostics they add (``checks``, ``answer_language``...)."""

    failed: str | None
    too_short: bool
    diagnostics: dict[str, Any]


def judge_prose(prose: str, row: Mapping[str, Any], expected: str) -> Judgement:
    """Run the checks on an answer's own words (refs already removed); see the module docstring.

    >>> judge_prose("The capital of Peru is Lima, a city on the coast.", {}, "en").failed is None
    True
    >>> judge_prose("Prifddinas Periw yw Lima, dinas fawr ar arfordir y Môr Tawel.", {}, "en").failed
    'other_language:cy'
    >>> judge_prose("Lima.", {}, "en").diagnostics["reason"]
    'answer too short to judge'
    >>> judge_prose("这座塔大约三百米高。 Boeing B-29 Superfortress bomber may will.",
    ...             {"sources": ["The Boeing B-29 Superfortress was a bomber."]}, "en").failed
    'foreign_script'
    """
    if script_check(prose) == OK and latin_share(prose) < 1.0:  # the names of the sources say nothing
        prose_without_names = without_source_names(prose, row)
        if script_check(prose_without_names) != OK:
            return Judgement("foreign_script", False, {"answer_language": "foreign_script", "checks": {
                "script": OK, "script_without_source_names": "foreign_script"}})
    if script_check(prose) == OK:  # Latin-script bulk: a name in another script does not decide
        prose = latin_letters_only(prose)
        if content_language_check(prose, expected) == OK:
            return Judgement(None, False, {"answer_language": expected,
                                          "checks": {"script": OK, "content_language": OK}})
    scores = language_scores(prose)
    if scores is None:
        if script_check(prose) == OK and short_answer_check(prose, expected) == OK:
            return Judgement(None, False, {"answer_language": expected,
                                           "checks": {"script": OK, "short_answer": OK}})
        return Judgement(None, True, {"reason": "answer too short to judge"})
    checks = language_checks(prose, scores, expected)
    failed = first_failure(checks)
    diagnostics: dict[str, Any] = {}
    if failed is not None and failed.partition(":")[0] in RECHECKED:
        names_removed = without_source_names(prose, row)
        if names_removed != prose:
            diagnostics["checks_before_names_removed"] = checks
            rescored = language_scores(names_removed)
            if rescored is None:
                return Judgement(None, True, {**diagnostics, "reason": "answer too short to judge without "
                                                                        "the names of the sources"})
            prose, scores = names_removed, rescored
            checks = language_checks(prose, scores, expected)
            failed = first_failure(checks)
    detected = scores.best if failed is None else failed.partition(":")[2] or failed
    diagnostics.update(answer_language=detected, confidence=round(scores.best_share, 4), checks=checks)
    return Judgement(failed, False, diagnostics)


class LanguageReward(Reward):
    """Reward answers written in the query's language (see the module docstring for the scale).

    >>> done = "<|answer_end|>"
    >>> fr = "French<|language_end|><|answer_start|>La capitale de la France est Paris." + done
    >>> en = "French<|language_end|><|answer_start|>The capital of France is Paris." + done
    >>> ru = "French<|language_end|><|answer_start|>Столица Франции — Париж, et la." + done
    >>> language_reward(completions=[fr, en, fr.replace("French", "English"), ru],
    ...                 query=["Quelle est la capitale de la France ?"] * 4)
    [1.0, 0.0, 0.75, 0.0]
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
        judged = judge_prose(parsed.prose or "", row, expected)
        if judged.too_short:
            return None, {**diagnostics, **judged.diagnostics, "answer_language": None}
        line_ok = language_code(parsed.language) == expected
        diagnostics.update(judged.diagnostics)
        diagnostics["metrics"] = {"answer_match": float(judged.failed is None), "line_match": float(line_ok)}
        if judged.failed is not None:
            return 0.0, {**diagnostics, "reason": _reason(judged.failed, expected)}
        return (1.0 if line_ok else WRONG_LINE_CREDIT), diagnostics


language_reward = LanguageReward()
"""The default :class:`LanguageReward` instance (TRL reward function ``language``)."""
