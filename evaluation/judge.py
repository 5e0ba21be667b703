"""LLM-as-a-match judge: grades a model answer against the gold answer, as the model report does.

Four grades: ``yes`` / ``rather yes`` / ``rather no`` / ``no``. Which grades count as correct
depends on the dataset (``meta.dataset``): only ``yes`` for HotpotQA and 2WikiMultiHopQA,
``yes`` or ``rather yes`` for MuSiQue (:data:`ACCEPTED_GRADES`).

Every reply is cached on disk (:class:`JudgeCache`), keyed by question, gold, answer and judge
model, so re-running an evaluation costs no request. A reply that is not one of the grades is a
recorded judge failure (grade ``None``), cached like any reply; a transport error (server down or
gone mid-run, reset, cut answer, timeout, 5xx: any
:class:`~pleias_rl.inference.backend.BackendError`) is a recorded error of that item, not cached,
and the evaluation goes on.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from pleias_rl.inference.backend import Generation

GRADES: tuple[str, ...] = ("yes", "rather yes", "rather no", "no")
"""The report's four grades, best first."""

ACCEPTED_GRADES: dict[str, frozenset[str]] = {
    "musique": frozenset({"yes", "rather yes"}),
}
"""Grades that count as correct per dataset; any other dataset accepts :data:`DEFAULT_ACCEPTED`."""

DEFAULT_ACCEPTED: frozenset[str] = frozenset({"yes"})
"""Grades counted as correct for HotpotQA, 2Wiki and unknown datasets."""

JUDGE_SYSTEM = (
    "You grade answers to questions. You are given a question, the gold answer and a candidate "
    "answer. Say whether the candidate answer gives the same answer as the gold answer. Reply with "
    "exactly one of: yes, rather yes, rather no, no. Nothing else."
)
"""System message of the judge."""

_PREFIX = re.compile(r"^\W*(?:(?:grade|answer|verdict|judge?ment)\s*[:\-]|(?:the|my)\s+(?:answer|grade|verdict)"
                     r"\s+is\b:?)\s*", re.IGNORECASE)
_GRADE_AT_START = re.compile(r"^\W*(rather\s+yes|rather\s+no|yes|no)\b", re.IGNORECASE)

def judge_messages(question: str, gold: Sequence[str], answer: str) -> list[dict[str, str]]:
    """The chat messages sent to the judge for one answer.

    >>> messages = judge_messages("Who?", ["Ann", "Anne"], "It was Ann.")
    >>> [m["role"] for m in messages], "Gold answer: Ann (also accepted: Anne)" in messages[1]["content"]
    (['system', 'user'], True)
    """
    gold_line = gold[0] if gold else ""
    if len(gold) > 1:
        gold_line += " (also accepted: " + "; ".join(gold[1:]) + ")"
    user = (f"Question: {question}\nGold answer: {gold_line}\nCandidate answer: {answer}\n\n"
            "Does the candidate answer match the gold answer? Reply with yes, rather yes, rather no or no.")
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": user}]


def parse_grade(reply: object) -> str | None:
    """The grade a judge reply starts with (after an optional ``Grade:`` or ``The answer is``
    label), or ``None``.

    >>> parse_grade("Rather yes."), parse_grade("**Grade:** no"), parse_grade("YES, same person")
    ('rather yes', 'no', 'yes')
    >>> parse_grade("The answer is rather no."), parse_grade("The answer is not the gold answer.")
    ('rather no', None)
    >>> parse_grade("I think yes"), parse_grade("noting that"), parse_grade(None)
    (None, None, None)
    """
    if not isinstance(reply, str):
        return None
    text = _PREFIX.sub("", reply.strip().replace("*", ""))
    match = _GRADE_AT_START.match(text)
    return " ".join(match.group(1).lower().split()) if match else None


def is_correct(grade: str | None, dataset: str | None) -> bool | None:
    """Whether a grade counts as correct for a dataset (``None`` when there is no grade).

    >>> is_correct("rather yes", "musique"), is_correct("rather yes", "hotpotqa"), is_correct(None, "2wiki")
    (True, False, None)
    """
    if grade is None:
        return None
    return grade in ACCEPTED_GRADES.get((dataset or "").lower(), DEFAULT_ACCEPTED)


def cache_key(question: str, gold: Sequence[str], answer: str, model: str) -> str:
    """The cache key of one judgement: a hash of question, gold, answer and judge model.

    >>> cache_key("q", ["a"], "b", "m") == cache_key("q", ["a"], "b", "m") != cache_key("q", ["a"], "b", "m2")
    True
    """
    payload = json.dumps([question, list(gold), answer, model], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class JudgeCache:
    """Judge replies on disk, one JSON line per judgement, appended as they arrive.

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "judge_cache.jsonl")
    >>> JudgeCache(path).put("k", {"reply": "yes"})
    >>> JudgeCache(path).get("k")
    {'reply': 'yes'}
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._entries: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        with open(self.path, encoding="utf-8") as handle:
            for line in handle:
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut by a crash: that judgement is simply asked again
                if isinstance(entry, dict) and isinstance(entry.get("key"), str):
                    self._entries[entry["key"]] = entry.get("value", {})

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> dict[str, Any] | None:
        """The cached value for ``key``, or ``None``."""
        return self._entries.get(key)

    def put(self, key: str, value: dict[str, Any]) -> None:
        """Store a value and append it to the file at once (a crash loses nothing judged)."""
        self._entries[key] = value
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"key": key, "value": value}, ensure_ascii=False) + "\n")


@dataclass(frozen=True)
class JudgeItem:
    """One answer to grade: question, gold answers, the model's answer (refs removed), dataset."""

    question: str
    gold: tuple[str, ...]
    answer: str
    dataset: str | None = None


@dataclass
class Judge:
    """Grades answers through a backend of the inference layer (:mod:`pleias_rl.inference`),
    caching every reply.

    Uncached items are sent together through ``backend.complete_many`` (concurrent for HTTP
    backends); identical items are asked once.

    >>> import tempfile, os
    >>> from pleias_rl.inference.backend import LLMBackend
    >>> class Grader(LLMBackend):
    ...     calls = 0
    ...     def complete(self, request, **params):
    ...         Grader.calls += 1
    ...         return "Rather yes"
    >>> judge = Judge(Grader(), "toy-judge", JudgeCache(os.path.join(tempfile.mkdtemp(), "c.jsonl")))
    >>> judge.grade_many([JudgeItem("Who?", ("Ann",), "Ann.", "musique")])
    [{'grade': 'rather yes', 'correct': True, 'reply': 'Rather yes', 'cached': False}]
    >>> judge.grade_many([JudgeItem("Who?", ("Ann",), "Ann.", "hotpotqa")])[0]["correct"], Grader.calls
    (False, 1)
    >>> judge.stats()
    {'model': 'toy-judge', 'requests': 1, 'cache_hits': 1, 'errors': 0, 'truncated': 0}
    """

    backend: Any
    model: str
    cache: JudgeCache
    max_tokens: int = 16
    requests: int = 0
    cache_hits: int = 0
    errors: int = 0
    truncated: int = 0

    def check(self) -> None:
        """Probe the backend; raises ``pleias_rl.inference.backend.BackendUnavailable`` with a clear message."""
        self.backend.check()

    def grade_many(self, items: Sequence[JudgeItem]) -> list[dict[str, Any]]:
        """Grade items; each result has ``grade``, ``correct``, ``reply`` (or ``error``), ``cached``."""
        keys = [cache_key(i.question, i.gold, i.answer, self.model) for i in items]
        missing = {key: item for key, item in zip(keys, items)
                   if item.answer.strip() and self.cache.get(key) is None}
        transport_errors = self._ask(missing)
        results: list[dict[str, Any]] = []
        for key, item in zip(keys, items):
            if not item.answer.strip():  # no answer at all: wrong, and no request is needed
                results.append({"grade": "no", "correct": False, "reply": None, "cached": False})
            elif key in transport_errors:
                results.append({"grade": None, "correct": None, "error": transport_errors[key],
                                "cached": False})
            else:
                cached = key not in missing
                self.cache_hits += cached
                results.append(self._result(self.cache.get(key)["reply"], item.dataset, cached))
        return results

    def _ask(self, missing: Mapping[str, JudgeItem]) -> dict[str, str]:
        """Send the uncached items; cache the replies; return transport errors by key."""
        if not missing:
            return {}
        requests = [judge_messages(i.question, i.gold, i.answer) for i in missing.values()]
        self.requests += len(requests)
        replies = self.backend.generate_many(requests, max_tokens=self.max_tokens, temperature=0.0)
        errors: dict[str, str] = {}
        for key, reply in zip(missing, replies):
            if isinstance(reply, Generation):
                self.truncated += reply.truncated
                self.cache.put(key, {"reply": reply.completion, "model": self.model})
            else:  # transport failure: recorded, not cached, asked again next run
                self.errors += 1
                errors[key] = f"{type(reply).__name__}: {reply}"
        return errors

    @staticmethod
    def _result(reply: object, dataset: str | None, cached: bool) -> dict[str, Any]:
        grade = parse_grade(reply)
        result: dict[str, Any] = {"grade": grade, "correct": is_correct(grade, dataset),
                                  "reply": reply if isinstance(reply, str) else None, "cached": cached}
        if grade is None:
            result["error"] = "reply is not a grade"
        return result

    def stats(self) -> dict[str, Any]:
        """Counters for ``summary.json``: model, requests sent, cache hits, transport errors, replies
        cut at ``max_tokens``."""
        return {"model": self.model, "requests": self.requests, "cache_hits": self.cache_hits,
                "errors": self.errors, "truncated": self.truncated}


def judge_item(row: Mapping[str, Any], answer: str | None) -> JudgeItem | None:
    """What to ask the judge about a row's answer, or ``None`` when the row has no gold answer.

    A missing answer is judged as the empty answer (graded ``no`` without a request).

    >>> judge_item({"query": "Who?", "answer": "Ann", "meta": {"dataset": "musique"}}, "Ann did.")
    JudgeItem(question='Who?', gold=('Ann',), answer='Ann did.', dataset='musique')
    >>> judge_item({"query": "Who?"}, "x") is None
    True
    """
    from pleias_rl.data.schema import gold_answers

    gold = gold_answers(row)
    if not gold or row.get("answerable") is False:
        return None
    meta = row.get("meta") if isinstance(row.get("meta"), Mapping) else {}
    dataset = meta.get("dataset") if isinstance(meta.get("dataset"), str) else None
    return JudgeItem(str(row.get("query", "")), tuple(gold), answer or "", dataset)
