"""Gold-based rewards: ``answer`` (gold answer match), ``source_f1`` and ``refusal``.

Each returns ``None`` on rows without the gold it needs, so a weighted combination (and TRL)
drops it there instead of inventing a score (open-r1's early "1.0 when the gold is missing" bug).
Known hacks are priced in: listing many candidates earns little containment credit, hedging
both "yes" and "no" earns nothing, citing every source lowers ``source_f1``.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from pleias_rl.data.format import ParsedCompletion, parse_completion
from pleias_rl.data.schema import gold_answers
from pleias_rl.rewards.base import Reward, Score, ScoredCompletion
from pleias_rl.rewards.text import fold

_PUNCTUATION = re.compile(r"[^\w\s]")
_ARTICLES = frozenset({"a", "an", "the"})
_LIST_SEPARATORS = re.compile(r"\s*(?:[,;/\n]|\bor\b|\band\b|\bet\b|\bou\b|\bo\b|\by\b|\bund\b|\boder\b)\s*")
_SENTENCES = re.compile(r"(?<=[.!?])\s+|\n+")
_MAX_CANDIDATE_TOKENS = 4
_MIN_LIST_ITEMS = 3
_POLAR = {"yes": "no", "no": "yes"}
_REFUSAL = re.compile(
    r"(cannot|can ?not|can't|unable to|impossible to|not possible to) (be )?(answer|determine|find|say)"
    r"|(sources?|documents?|texts?|excerpts?) (provided )?(do|does) not (contain|mention|provide|say)"
    r"|no (relevant )?information (about|on|regarding)"
    r"|je ne peux pas|ne (contiennent|mentionnent|permettent) pas|aucune information"
    r"|no (puedo|es posible)|no contienen|ninguna información"
    r"|non (posso|è possibile)|non contengono|nessuna informazione"
    r"|kann (ich )?(die frage )?nicht|enthalten keine|keine informationen"
    r"|não (posso|é possível)|não contêm|nenhuma informação"
    r"|nie (mogę|można)|nie zawierają|brak informacji",
    re.IGNORECASE)


def answer_tokens(text: str) -> list[str]:
    """Normalised tokens: folded (NFKC, case, quotes), accents and punctuation and English
    articles removed.

    >>> answer_tokens("The  Étoile-du-Nord, Paris!")
    ['etoile', 'du', 'nord', 'paris']
    """
    decomposed = unicodedata.normalize("NFKD", fold(text))
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    return [token for token in _PUNCTUATION.sub(" ", plain).split() if token not in _ARTICLES]


def token_f1(predicted: list[str], gold: list[str]) -> float:
    """SQuAD-style token F1 between two token lists.

    >>> token_f1(["helsby", "village"], ["helsby"])
    0.6666666666666666
    >>> token_f1([], ["x"])
    0.0
    """
    remaining = list(gold)
    common = 0
    for token in predicted:
        if token in remaining:
            remaining.remove(token)
            common += 1
    if not common:
        return 0.0
    precision, recall = common / len(predicted), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def contains(tokens: list[str], gold: list[str]) -> bool:
    """True when ``gold`` occurs as a contiguous run of ``tokens``.

    >>> contains(["it", "is", "new", "york", "city"], ["new", "york"]), contains(["york"], ["new", "york"])
    (True, False)
    """
    width = len(gold)
    return width > 0 and any(tokens[i:i + width] == gold for i in range(len(tokens) - width + 1))


def enumeration_size(answer: str, gold: list[str]) -> int:
    """The length of the longest list of short names (one of them the gold) in the answer.

    Items are split at commas, semicolons, slashes, newlines and "or"/"and" (also in fr, es,
    it, de); a name is a short item (at most 4 tokens) starting with a capital or a digit.

    A hedge such as "Paris, Lyon, Nice or Lille" has 4; prose naming the gold once has 1.

    >>> enumeration_size("It is Paris, Lyon, Nice or Lille.", ["paris"])
    4
    >>> enumeration_size("Paris, the capital, is big.", ["paris"])
    1
    """
    largest = 1
    for sentence in _SENTENCES.split(answer):
        items = [item.strip() for item in _LIST_SEPARATORS.split(sentence)]
        names = [answer_tokens(item) for item in items if item[:1].isupper() or item[:1].isdigit()]
        short = [name for name in names if 0 < len(name) <= _MAX_CANDIDATE_TOKENS]
        if len(short) >= _MIN_LIST_ITEMS and any(contains(name, gold) for name in short):
            largest = max(largest, len(short))
    return largest


def answer_match(answer: str, gold: str) -> tuple[float, dict[str, Any]]:
    """Score an answer text against one gold answer: max of token F1 and containment credit.

    Containment earns 1.0 when the gold occurs in the answer, divided by half the size of a
    candidate list holding it (3 candidates: 0.67, 10: 0.2). Yes/no golds need the first
    yes/no word of the answer to agree and the opposite word to be absent.

    >>> answer_match("The village is Helsby.", "Helsby")[0]
    1.0
    >>> round(answer_match("Maybe Helsby, Frodsham, Chester, Runcorn or Widnes.", "Helsby")[0], 2)
    0.4
    >>> answer_match("Yes, and also no.", "yes")[0], answer_match("Yes, both are American.", "yes")[0]
    (0.0, 1.0)
    """
    tokens, gold_tokens = answer_tokens(answer), answer_tokens(gold)
    f1 = token_f1(tokens, gold_tokens)
    if len(gold_tokens) == 1 and gold_tokens[0] in _POLAR:
        polar = [token for token in tokens if token in _POLAR]
        agrees = bool(polar) and polar[0] == gold_tokens[0] and _POLAR[polar[0]] not in polar
        return float(agrees), {"f1": round(f1, 4), "polar": polar[:3]}
    contained = contains(tokens, gold_tokens)
    candidates = enumeration_size(answer, gold_tokens) if contained else 1
    credit = min(1.0, 2.0 / candidates) if contained else 0.0
    return max(f1, credit), {"f1": round(f1, 4), "contained": contained, "candidates": candidates}


def answer_prose(parsed: ParsedCompletion) -> str | None:
    """The answer's own words (refs and their quotes removed), or ``None`` without an answer.

    >>> answer_prose(parse_completion('E<|language_end|><|answer_start|>Lima<ref name="1">x</ref>.<|answer_end|>'))
    'Lima.'
    """
    return None if parsed.prose is None else parsed.prose.strip()


class AnswerReward(Reward):
    """Gold answer match (normalised token F1 / containment, aliases accepted).

    ``None`` without a gold answer or on unanswerable rows.

    >>> done = "<|answer_end|>"
    >>> answer_reward(completions=["English<|language_end|><|answer_start|>It is Helsby." + done,
    ...                            "English<|language_end|><|answer_start|>It is Chester." + done],
    ...               answer=["Helsby", "Helsby"])
    [1.0, 0.0]
    """

    name = "answer"

    def score_completion(self, completion: ScoredCompletion) -> tuple[Score, dict[str, Any]]:
        """Best match over the gold answer and its aliases."""
        row = completion.row
        golds = gold_answers(row)
        if not golds or row.get("answerable") is False:
            return None, {"reason": "no gold answer"}
        answer = answer_prose(completion.parsed)
        if not answer:
            return 0.0, {"reason": "no answer"}
        scored = [(answer_match(answer, gold), gold) for gold in golds]
        (score, detail), gold = max(scored, key=lambda item: item[0][0])
        return score, {"gold": gold, **detail}


class SourceF1Reward(Reward):
    """F1 between the cited source ids and the gold ``supporting_ids``.

    ``None`` without supporting ids or on unanswerable rows; citing every source lowers precision.

    >>> done = "<|answer_end|>"
    >>> cite = lambda ids: "E<|language_end|><|answer_start|>A" + "".join(
    ...     f'<ref name="{i}">q</ref>' for i in ids) + done
    >>> source_f1_reward(completions=[cite([1, 2]), cite(range(1, 11)), cite([])],
    ...                  supporting_ids=[[1, 2]] * 3)
    [1.0, 0.333333, 0.0]
    """

    name = "source_f1"

    def score_completion(self, completion: ScoredCompletion) -> tuple[Score, dict[str, Any]]:
        """F1 of cited ids vs gold ids."""
        row = completion.row
        gold_ids = row.get("supporting_ids")
        if not isinstance(gold_ids, list) or not gold_ids or row.get("answerable") is False:
            return None, {"reason": "no supporting_ids"}
        gold = {i for i in gold_ids if isinstance(i, int)}
        cited = {c.source_id for c in completion.parsed.citations if c.source_id is not None}
        common = len(cited & gold)
        diagnostics = {"cited": sorted(cited)[:50], "gold": sorted(gold)}
        if not common:
            return 0.0, diagnostics
        precision, recall = common / len(cited), common / len(gold)
        return round(2 * precision * recall / (precision + recall), 6), diagnostics


def is_refusal(parsed: ParsedCompletion) -> bool:
    """True when the output declines: refusal report labels, or a clear refusal in the answer
    (anywhere in an answer without refs; in the first sentence of an answer with refs, so an
    answer that merely notes a missing detail is not a refusal).

    >>> is_refusal(parse_completion("E<|language_end|><|answer_start|>The sources do not mention it.<|answer_end|>"))
    True
    >>> is_refusal(parse_completion("E<|language_end|><|answer_start|>It is Helsby.<|answer_end|>"))
    False
    >>> is_refusal(parse_completion('E<|language_end|><|answer_start|>It is Helsby<ref name="1">q</ref>. '
    ...                             'The sources do not mention its size.<|answer_end|>'))
    False
    """
    if parsed.is_refusal:
        return True
    answer = answer_prose(parsed)
    if not answer:
        return False
    first_sentence = _SENTENCES.split(answer[:2000], maxsplit=1)[0]
    where = answer[:2000] if not parsed.citations else first_sentence
    return _REFUSAL.search(where) is not None


class RefusalReward(Reward):
    """1.0 when the output refuses exactly when the row is unanswerable (``answerable`` false).

    ``None`` on rows without an ``answerable`` flag.

    >>> done = "<|answer_end|>"
    >>> refuse = "E<|language_end|><|answer_start|>I cannot answer from these sources." + done
    >>> answer = "E<|language_end|><|answer_start|>It is Helsby." + done
    >>> refusal_reward(completions=[refuse, answer, refuse, answer],
    ...                answerable=[False, False, True, None])
    [1.0, 0.0, 0.0, None]
    """

    name = "refusal"

    def score_completion(self, completion: ScoredCompletion) -> tuple[Score, dict[str, Any]]:
        """Compare the refusal decision with the row's ``answerable`` flag."""
        answerable = completion.row.get("answerable")
        if not isinstance(answerable, bool):
            return None, {"reason": "no answerable flag"}
        refused = is_refusal(completion.parsed)
        return float(refused != answerable), {"refused": refused, "answerable": answerable}


answer_reward = AnswerReward()
"""The default :class:`AnswerReward` instance (TRL reward function ``answer``)."""
source_f1_reward = SourceF1Reward()
"""The default :class:`SourceF1Reward` instance (TRL reward function ``source_f1``)."""
refusal_reward = RefusalReward()
"""The default :class:`RefusalReward` instance (TRL reward function ``refusal``)."""
