"""The LLM critic: a stronger model judges what rules cannot, and answers in strict JSON.

It reads the query, the numbered sources and the answer (with its refs), and follows a
principles -> critique -> verdict -> revision prompt (:data:`PRINCIPLES`). It must answer with
ONE JSON object::

    {"critique": "...", "verdict": "pass" | "fail",
     "issues": [{"kind": "unsupported_claim", "ref": 1, "message": "...", "suggested_fix": "..."}],
     "revision": "the corrected answer text with its <ref> tags" | null}

``kind`` is one of :data:`LLM_KINDS`. The answer is parsed robustly (code fences, prose around
the object, trailing text): anything unusable — no JSON, wrong fields, an unknown kind, a
``fail`` without issues — and any backend failure (down, timeout, budget spent) becomes a
``critic_error`` issue in the verdict; the critic never raises. A revision replaces the answer
section of the completion; the loop re-verifies it with the rule critic before accepting it.
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

from pleias_rl.data.format import ParsedCompletion
from pleias_rl.data.schema import source_texts
from pleias_rl.inference.backend import BackendError, LLMBackend
from pleias_rl.critics.base import Critic, Issue, Verdict
from pleias_rl.critics.rules import with_answer
from pleias_rl.rewards.base import parse_cached

LLM_KINDS: tuple[str, ...] = ("unsupported_claim", "self_contradiction", "off_question", "wrong_answer")
"""Failure kinds the LLM critic may report (the rest is the rule critic's job)."""

PRINCIPLES = """You are a strict fact-checking critic of answers written from numbered sources.
Principles:
1. Every claim must be supported by the quote in its <ref> tag; a claim its quote does not support is "unsupported_claim".
2. The answer must not contradict its own quotes ("self_contradiction").
3. The answer must address the question that was asked, not a different one ("off_question").
4. The answer must be correct given the sources ("wrong_answer").
Work in this order: write a short critique, then a verdict ("pass" if no principle is broken, else "fail"), then, on "fail", a revision: the corrected answer, keeping literal quotes of the sources inside <ref name="N">...</ref> tags.
Answer with ONE JSON object and nothing else, exactly these keys:
{"critique": "...", "verdict": "pass" or "fail", "issues": [{"kind": "unsupported_claim" | "self_contradiction" | "off_question" | "wrong_answer", "ref": <ref number or null>, "message": "...", "suggested_fix": "..."}], "revision": "..." or null}"""
"""The system prompt of the LLM critic."""

MAX_SOURCE_CHARS = 1500
"""Each source is cut to this many characters in the critic prompt (bounded request size)."""

MAX_ANSWER_CHARS = 4000
"""The answer is cut to this many characters in the critic prompt."""


def critic_messages(example: Mapping[str, Any], parsed: ParsedCompletion) -> list[dict[str, str]]:
    """The chat messages asking the critic to judge one answer.

    >>> msgs = critic_messages({"query": "Who?", "sources": ["Ann did."]},
    ...                        parse_cached("E<|language_end|><|answer_start|>Ann.<|answer_end|>"))
    >>> [m["role"] for m in msgs], msgs[1]["content"].splitlines()[:3]
    (['system', 'user'], ['Question: Who?', '', 'Sources:'])
    """
    sources = source_texts(example.get("sources"))
    listed = "\n".join(f"[{number}] {_cut(text, MAX_SOURCE_CHARS)}"
                       for number, text in enumerate(sources, start=1))
    answer = _cut(parsed.answer or "", MAX_ANSWER_CHARS)
    user = (f"Question: {example.get('query', '')}\n\nSources:\n{listed}\n\n"
            f"Answer to judge:\n{answer}\n\nYour JSON object:")
    return [{"role": "system", "content": PRINCIPLES}, {"role": "user", "content": user}]


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + " […]"


class MalformedAnswer(ValueError):
    """The critic's answer is not the JSON object the prompt asks for."""


def extract_json_object(text: str) -> dict[str, Any]:
    """The first JSON object in ``text`` (code fences and surrounding prose tolerated).

    >>> extract_json_object('Sure! ```json\\n{"verdict": "pass"}\\n``` done')
    {'verdict': 'pass'}
    >>> try:
    ...     extract_json_object("no json here")
    ... except MalformedAnswer as error:
    ...     print(error)
    no complete JSON object in the answer: 'no json here'
    """
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start >= 0:
        try:
            value, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            start = text.find("{", start + 1)
            continue
        if isinstance(value, dict):
            return value
        start = text.find("{", start + 1)
    raise MalformedAnswer(f"no complete JSON object in the answer: {text[:120]!r}")


def parse_judgement(text: str, parsed: ParsedCompletion, critic: str = "llm") -> Verdict:
    """Turn the critic's raw answer into a verdict; raise :class:`MalformedAnswer` if unusable.

    ``ref`` numbers (1-based) become the span of that ref in the completion.

    >>> p = parse_cached('E<|language_end|><|answer_start|>Bob<ref name="1">Ann did.</ref><|answer_end|>')
    >>> v = parse_judgement('{"critique": "Quote names Ann.", "verdict": "fail", "issues": [{"kind":'
    ...     ' "self_contradiction", "ref": 1, "message": "says Bob", "suggested_fix": "say Ann"}],'
    ...     ' "revision": "Ann<ref name=\\\\"1\\\\">Ann did.</ref>"}', p)
    >>> v.passed, v.kinds, v.issues[0].span, v.revision.count("<|answer_start|>Ann<ref")
    (False, ['self_contradiction'], (36, 64), 1)
    >>> try:
    ...     parse_judgement('{"verdict": "maybe"}', p)
    ... except MalformedAnswer as error:
    ...     print(error)
    verdict must be "pass" or "fail", got 'maybe'
    """
    answer = extract_json_object(text)
    verdict = answer.get("verdict")
    if not isinstance(verdict, str) or verdict.strip().lower() not in ("pass", "fail"):
        raise MalformedAnswer(f'verdict must be "pass" or "fail", got {verdict!r}')
    failed = verdict.strip().lower() == "fail"
    raw_issues = answer.get("issues") or []
    if not isinstance(raw_issues, list):
        raise MalformedAnswer(f"issues must be a list, got {type(raw_issues).__name__}")
    issues = [_issue(item, parsed, failed) for item in raw_issues]
    if failed and not issues:
        raise MalformedAnswer('verdict "fail" without any issue')
    revision = answer.get("revision")
    revised = with_answer(parsed, revision.strip()) if failed and isinstance(revision, str) and revision.strip() else None
    return Verdict(critic=critic, passed=not failed, issues=issues, revision=revised)


def _issue(item: object, parsed: ParsedCompletion, failed: bool) -> Issue:
    if not isinstance(item, Mapping):
        raise MalformedAnswer(f"an issue must be an object, got {item!r:.80}")
    kind = item.get("kind")
    if kind not in LLM_KINDS:
        raise MalformedAnswer(f"unknown issue kind {kind!r}; expected one of {', '.join(LLM_KINDS)}")
    ref = item.get("ref")
    span = None
    if isinstance(ref, int) and not isinstance(ref, bool) and 1 <= ref <= len(parsed.citations):
        span = parsed.citations[ref - 1].span
    fix = item.get("suggested_fix")
    return Issue(kind, str(item.get("message") or kind), severity="error" if failed else "warning",
                 span=span, suggested_fix=str(fix) if fix else None)


class LLMCritic(Critic):
    """Ask a stronger model (any :class:`~pleias_rl.inference.backend.LLMBackend`) to judge the answer.

    ``params`` are generation parameters (default: greedy, 768 tokens). A completion without
    an answer is not sent (the rule critic reports it).

    >>> from pleias_rl.inference.backend import EchoBackend
    >>> class Canned(EchoBackend):
    ...     def complete(self, request, **params):
    ...         return '{"critique": "fine", "verdict": "pass", "issues": [], "revision": null}'
    >>> LLMCritic(Canned()).critique({"query": "Who?", "sources": ["Ann did."]},
    ...     "E<|language_end|><|answer_start|>Ann<ref name=\\"1\\">Ann did.</ref><|answer_end|>").passed
    True
    >>> LLMCritic(EchoBackend()).critique({"query": "Who?", "sources": ["Ann did."]},
    ...     "E<|language_end|><|answer_start|>Ann.<|answer_end|>").kinds
    ['critic_error']
    """

    name = "llm"

    def __init__(self, backend: LLMBackend, **params: Any) -> None:
        self.backend = backend
        self.params = {"temperature": 0.0, "max_tokens": 768, **params}

    def critique(self, example: Mapping[str, Any], completion: str) -> Verdict:
        """Judge one completion (one backend request)."""
        return self.critique_many([(example, completion)])[0]

    def critique_many(self, pairs: Sequence[tuple[Mapping[str, Any], str]]) -> list[Verdict]:
        """Judge many completions with concurrent requests (the backend's ``concurrency``)."""
        parsed = [parse_cached(completion) for _, completion in pairs]
        todo = [index for index, p in enumerate(parsed) if p.answer and p.answer.strip()]
        answers = self.backend.complete_many(
            [critic_messages(pairs[index][0], parsed[index]) for index in todo], **self.params)
        verdicts = [Verdict(critic=self.name) for _ in pairs]
        for index, answer in zip(todo, answers):
            verdicts[index] = self._verdict(answer, parsed[index])
        return verdicts

    def _verdict(self, answer: str | BackendError, parsed: ParsedCompletion) -> Verdict:
        if isinstance(answer, BackendError):
            return Verdict.failing(self.name, [Issue("critic_error", f"{type(answer).__name__}: {answer}")])
        try:
            return parse_judgement(answer, parsed, self.name)
        except MalformedAnswer as error:
            return Verdict.failing(self.name, [Issue("critic_error", f"malformed critic answer: {error}")])
