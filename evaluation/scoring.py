"""Score generated rows: every registered reward, answer EM/F1, RAG-Eval, judge, length.

:func:`row_record` turns one row (with its ``completion``) into the per-row record that
:mod:`pleias_rl.evaluation.metrics` aggregates and ``scores.jsonl`` keeps; :func:`score_rows` does a whole
run, sending the judge its questions in batches.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from pleias_rl.data.schema import gold_answers, row_completion
from pleias_rl.evaluation.judge import Judge, judge_item
from pleias_rl.evaluation.metrics import has_gold, length_record, row_group_keys

JUDGE_BATCH = 32
"""Rows graded per judge batch (one progress step; requests inside a batch run concurrently)."""

def answer_scores(answer: str | None, gold: Sequence[str]) -> dict[str, float] | None:
    """Normalised exact match, containment (gold inside the answer) and token F1, best over aliases.

    Normalisation is the ``answer`` reward's (:func:`pleias_rl.rewards.gold.answer_tokens`). A missing
    answer scores 0; no gold gives ``None``.

    >>> answer_scores("It is the Eiffel Tower.", ["Eiffel Tower"])
    {'em': 0.0, 'contains': 1.0, 'f1': 0.6666666666666666}
    >>> answer_scores("Eiffel tower!", ["The Eiffel Tower"])["em"], answer_scores(None, ["x"])["f1"]
    (1.0, 0.0)
    >>> answer_scores("x", []) is None
    True
    """
    from pleias_rl.rewards.gold import answer_tokens, contains, token_f1

    if not gold:
        return None
    predicted = answer_tokens(answer or "")
    best = {"em": 0.0, "contains": 0.0, "f1": 0.0}
    for alias in map(answer_tokens, gold):
        if not alias:
            continue
        best["em"] = max(best["em"], float(predicted == alias))
        best["contains"] = max(best["contains"], float(contains(predicted, alias)))
        best["f1"] = max(best["f1"], token_f1(predicted, alias))
    return best


def load_rewards(names: Sequence[str] | None = None, tokenizer: Any = None) -> dict[str, Any]:
    """Instantiate rewards by name or ``module:Class`` (default: every registered reward), in
    the order given, keyed by each reward's own name.

    >>> list(load_rewards(["format", "pleias_rl.rewards.gold:AnswerReward"]))
    ['format', 'answer']
    >>> load_rewards(["nope"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown reward 'nope'; registered: citation, format, ...
    """
    from pleias_rl.rewards.registry import REGISTRY, get_reward

    chosen = list(REGISTRY) if names is None else list(names)
    try:
        rewards = [get_reward(name, tokenizer=tokenizer) for name in chosen]
    except KeyError as error:
        raise ValueError(error.args[0]) from error
    return {reward.name: reward for reward in rewards}


def rag_eval_measures(diagnostics: Mapping[str, Any]) -> dict[str, float] | None:
    """The numeric RAG-Eval measures from the citation reward's diagnostics (``None`` without
    citations: the measures are per citation, so a completion without any has none).

    >>> rag_eval_measures({"rag_eval": {"id_valid": 1.0, "rag_rank": 0.75, "per_citation": []}})
    {'id_valid': 1.0, 'rag_rank': 0.75}
    >>> rag_eval_measures({}) is None
    True
    """
    measures = diagnostics.get("rag_eval")
    if not isinstance(measures, Mapping):
        return None
    numbers = {key: float(value) for key, value in measures.items()
               if isinstance(value, (int, float)) and not isinstance(value, bool)}
    return numbers or None


def row_record(key: str, row: Mapping[str, Any], rewards: Mapping[str, Any]) -> dict[str, Any]:
    """The evaluation record of one row (everything but the judge grade).

    >>> row = {"query": "Who?", "sources": ["Ann did it."], "answer": "Ann", "language": "en",
    ...        "completion": "English<|language_end|><|query_analysis_start|>Easy.<|query_analysis_end|>"
    ...                      "<|query_report_start|>Trivial<|query_report_end|>"
    ...                      "<|answer_start|>Ann.<|answer_end|>"}
    >>> record = row_record("k", row, load_rewards(["format"]))
    >>> record["answer"], record["rewards"]["format"], record["truncated"], record["refused"]
    ({'em': 1.0, 'contains': 1.0, 'f1': 1.0}, 1.0, False, False)
    """
    from pleias_rl.rewards.base import ScoredCompletion
    from pleias_rl.rewards.gold import answer_prose, is_refusal

    scored = ScoredCompletion(row_completion(row), row)  # one parse and row context for all
    parsed = scored.parsed
    scores: dict[str, float | None] = {}
    rag_eval = None
    for name, reward in rewards.items():
        scores[name], diagnostics = reward.explain_completion(scored)
        rag_eval = rag_eval or rag_eval_measures(diagnostics)
    answer = answer_prose(parsed)
    answerable = row.get("answerable")
    return {
        "key": key, "id": row.get("id"), **row_group_keys(row),
        "has_gold": has_gold(row),
        "rewards": scores,
        "answer": answer_scores(answer, gold_answers(row)) if answerable is not False else None,
        "answer_text": answer,
        "rag_eval": rag_eval,
        "answerable": answerable if isinstance(answerable, bool) else None,
        "refused": is_refusal(parsed),
        **length_record(row),
    }


def score_rows(keyed_rows: Sequence[tuple[str, Mapping[str, Any]]], rewards: Mapping[str, Any],
               judge: Judge | None = None, progress: bool = True) -> list[dict[str, Any]]:
    """Score every row; with a judge, grade every row that has a gold answer.

    >>> rows = [("a", {"query": "Who?", "sources": ["s"], "completion": "English<|language_end|>"})]
    >>> [r["key"] for r in score_rows(rows, load_rewards(["format"]), progress=False)]
    ['a']
    """
    from tqdm.auto import tqdm

    records = [row_record(key, row, rewards)
               for key, row in tqdm(keyed_rows, desc="scoring", unit="row", disable=not progress)]
    if judge is None:
        return records
    pending = [(record, item) for record, (_, row) in zip(records, keyed_rows)
               if (item := judge_item(row, record["answer_text"])) is not None]
    bar = tqdm(total=len(pending), desc=f"judging ({judge.model})", unit="row", disable=not progress)
    for start in range(0, len(pending), JUDGE_BATCH):
        batch = pending[start:start + JUDGE_BATCH]
        for (record, _), result in zip(batch, judge.grade_many([item for _, item in batch])):
            record["judge"] = result
        bar.update(len(batch))
    bar.close()
    return records
