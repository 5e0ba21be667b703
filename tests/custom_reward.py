"""A reward written outside the package, as a user would (used by the ``module:Class`` tests)."""

from __future__ import annotations

from typing import Any, Mapping

from pleias_rl.rewards.base import Reward, Score, parse_cached


class Brevity(Reward):
    """1.0 for answers of at most ``max_words`` words (option), falling to 0 at four times that.

    >>> short = "English<|language_end|><|answer_start|>Helsby.<|answer_end|>"
    >>> Brevity(max_words=1)(completions=[short, short.replace("Helsby.", "It is Helsby.")])
    [1.0, 0.3333333333333333]
    """

    name = "brevity"

    def score_row(self, text: str, row: Mapping[str, Any]) -> tuple[Score, dict[str, Any]]:
        answer = parse_cached(text).answer
        if answer is None:
            return 0.0, {"reason": "no answer"}
        words, limit = len(answer.split()), self.options.get("max_words", 80)
        return min(1.0, max(0.0, (4 * limit - words) / (3 * limit))), {"metrics": {"words": float(words)}}


class NotAReward:
    """Not a ``pleias_rl.rewards.base.Reward``: the registry refuses it."""
