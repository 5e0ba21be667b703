"""The critic interface: a verdict with typed issues and an optional revision.

A critic looks at one example (a RAG row, contracts.md §1) and one completion and returns a
:class:`Verdict`: ``passed``, a list of :class:`Issue` (``kind`` from :data:`FAILURE_KINDS`,
``severity``, the ``span`` of the completion it concerns, a ``message`` and a
``suggested_fix``) and, when the critic can repair the completion, a ``revision``.

>>> class NoEmptyAnswer(Critic):
...     name = "no_empty"
...     def critique(self, example, completion):
...         if completion.strip():
...             return Verdict(critic=self.name)
...         return Verdict.failing(self.name, [Issue("format", "empty completion")])
>>> NoEmptyAnswer().critique({}, "").kinds
['format']
>>> NoEmptyAnswer().critique({}, "Hi").passed
True
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Literal, Mapping, Sequence

from pleias_rl.rewards.base import ScoredCompletion

FAILURE_KINDS: dict[str, str] = {
    "misquote": "a quote that is not a literal excerpt of its cited source (fabricated, "
                "paraphrased or fuzzily similar)",
    "wrong_source": "a literal quote attributed to the wrong source id (another source holds it)",
    "number_changed": "a quote that matches its source except for a number",
    "query_quote": "a quote copied from the query instead of a source",
    "quote_shape": "a quote too short to prove anything, a whole source dumped, a duplicate "
                   "quote, or elided fragments stitched out of order",
    "invalid_ref": "a ref with an id that is not a given source, or an unclosed ref",
    "missing_citation": "an answer that makes claims without citing any source",
    "unsupported_claim": "a claim its quote does not support (LLM critic)",
    "self_contradiction": "an answer that contradicts its own quotes (LLM critic)",
    "off_question": "an answer drifting to another question than the one asked (LLM critic)",
    "language_mismatch": "an answer not written in the query's language",
    "format": "structural faults: missing, unbalanced, repeated or out-of-order sections, bad "
              "labels, text after the answer, truncation, repetition loops",
    "wrong_refusal": "a refusal although the sources answer the question",
    "missed_refusal": "an answer although the question is unanswerable from the sources",
    "wrong_answer": "an answer that does not match the gold answer (or, for the LLM critic, "
                    "is wrong given the sources)",
    "critic_error": "a critic that could not judge: malformed critic output, backend down, "
                    "timeout, budget spent",
}
"""The failure taxonomy: every recorded failure has one of these kinds."""

Severity = Literal["error", "warning"]
"""``error`` fails the verdict; ``warning`` is recorded but does not fail it."""


@dataclass(frozen=True)
class Issue:
    """One problem found in a completion.

    ``span`` is a ``(start, end)`` character range of the completion text as given (``None``
    when the issue concerns the whole output); ``suggested_fix`` is a short instruction or the
    replacement text.

    >>> Issue("misquote", "quote 1 is not in source 2", span=(40, 61)).to_dict()["kind"]
    'misquote'
    >>> Issue("typo", "x")
    Traceback (most recent call last):
    ...
    ValueError: unknown failure kind 'typo'; see pleias_rl.critics.base.FAILURE_KINDS
    """

    kind: str
    message: str
    severity: Severity = "error"
    span: tuple[int, int] | None = None
    suggested_fix: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAILURE_KINDS:
            raise ValueError(f"unknown failure kind {self.kind!r}; see pleias_rl.critics.base.FAILURE_KINDS")
        if self.severity not in ("error", "warning"):
            raise ValueError(f"severity must be 'error' or 'warning', got {self.severity!r}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (span as a list)."""
        row = asdict(self)
        row["span"] = list(self.span) if self.span is not None else None
        return row


@dataclass
class Verdict:
    """A critic's judgement of one completion.

    ``passed`` is False when any issue has severity ``error``; ``revision`` is a repaired
    completion (still to be re-verified by the loop), or ``None``.

    >>> verdict = Verdict.failing("rules", [Issue("format", "no answer"),
    ...                                      Issue("language_mismatch", "short", severity="warning")])
    >>> verdict.passed, verdict.kinds, verdict.errors[0].message
    (False, ['format', 'language_mismatch'], 'no answer')
    """

    critic: str = "critic"
    passed: bool = True
    issues: list[Issue] = field(default_factory=list)
    revision: str | None = None

    @classmethod
    def failing(cls, critic: str, issues: list[Issue], revision: str | None = None) -> "Verdict":
        """A verdict whose ``passed`` follows from the issues (any ``error`` fails it)."""
        return cls(critic=critic, passed=not any(i.severity == "error" for i in issues),
                   issues=list(issues), revision=revision)

    @property
    def kinds(self) -> list[str]:
        """The kinds of every issue, in order."""
        return [issue.kind for issue in self.issues]

    @property
    def errors(self) -> list[Issue]:
        """The issues that fail the verdict."""
        return [issue for issue in self.issues if issue.severity == "error"]

    def feedback(self) -> str:
        """The issues as a numbered list, for a policy asked to regenerate.

        >>> print(Verdict.failing("rules", [Issue("format", "no answer section", suggested_fix="add one")]).feedback())
        1. [format] no answer section Fix: add one
        """
        lines = []
        for number, issue in enumerate(self.issues, start=1):
            fix = f" Fix: {issue.suggested_fix}" if issue.suggested_fix else ""
            lines.append(f"{number}. [{issue.kind}] {issue.message}{fix}")
        return "\n".join(lines)


class Critic:
    """Base class of the critics. Subclasses set ``name`` and implement :meth:`critique`.

    >>> Critic().safe_critique({}, "x").kinds  # the base class judges nothing: a critic_error
    ['critic_error']
    """

    name = "critic"

    def critique(self, example: Mapping[str, Any], completion: str) -> Verdict:
        """Judge ``completion`` (the text generated after the prompt) for ``example``."""
        raise NotImplementedError

    def critique_many(self, pairs: Sequence[tuple[Mapping[str, Any], str]]) -> list[Verdict]:
        """Judge many ``(example, completion)`` pairs (remote critics override it to run
        requests concurrently); never raises.

        >>> class Short(Critic):
        ...     def critique(self, example, completion):
        ...         return Verdict.failing("short", [Issue("format", "long")] if len(completion) > 3 else [])
        >>> [v.passed for v in Short().critique_many([({}, "ok"), ({}, "too long")])]
        [True, False]
        """
        return [self.safe_critique(example, completion) for example, completion in pairs]

    def critique_scored(self, completions: Sequence[ScoredCompletion]) -> list[Verdict]:
        """Judge scored completions (each with its example as row); never raises. A critic that
        reads the rewards overrides it to share each completion's parse and judgements.

        >>> Critic().critique_scored([ScoredCompletion("x", {})])[0].kinds
        ['critic_error']
        """
        return self.critique_many([(completion.row, completion.text) for completion in completions])

    def safe_critique(self, example: Mapping[str, Any], completion: str) -> Verdict:
        """:meth:`critique`, turning any unexpected exception into a ``critic_error`` verdict.

        >>> class Broken(Critic):
        ...     name = "broken"
        ...     def critique(self, example, completion):
        ...         raise KeyError("bug")
        >>> Broken().safe_critique({}, "x").issues[0].message
        "critic broken failed: KeyError('bug')"
        """
        return self.guarded(lambda: self.critique(example, completion))

    def guarded(self, judge: Callable[[], Verdict]) -> Verdict:
        """``judge()``, turning any unexpected exception into a ``critic_error`` verdict.

        >>> Critic().guarded(lambda: 1 / 0).issues[0].message
        "critic critic failed: ZeroDivisionError('division by zero')"
        """
        try:
            return judge()
        except Exception as error:  # a critic bug is a recorded failure, never a crash
            return Verdict.failing(self.name, [Issue("critic_error", f"critic {self.name} failed: {error!r}")])
