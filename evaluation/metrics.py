"""Per-row evaluation records and their aggregation into ``summary.json``.

A *record* is what one evaluated row contributes: the score of every registered reward, answer
accuracy (normalised EM / containment / token F1, and the judge grade), Pleias' RAG-Eval citation
measures, refusal accuracy, truncation and completion length, plus the grouping keys (language,
dataset, question type). :func:`summarise` averages records overall and per group; every mean is
taken over the rows where the measure applies, and the count of such rows is kept beside it.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Sequence

from pleias_rl.data.format import parse_completion
from pleias_rl.data.schema import gold_answers, row_completion

ACCURACY_KEYS: tuple[str, ...] = ("judge_accuracy", "answer_contains", "answer_f1")
"""Accuracy measures in order of preference for the language loss (the judge first, as the report)."""


def row_group_keys(row: Mapping[str, Any]) -> dict[str, str]:
    """The grouping keys of a row: language (the row's, else detected from the query), dataset
    (``meta.dataset``) and question type (``meta.type``).

    >>> row_group_keys({"language": "fr", "meta": {"dataset": "hotpotqa", "type": "bridge"}})
    {'language': 'fr', 'dataset': 'hotpotqa', 'type': 'bridge'}
    >>> row_group_keys({"query": "Quelle est la capitale de la France ?"})
    {'language': 'fr', 'dataset': 'unknown', 'type': 'unknown'}
    """
    from pleias_rl.rewards.language import expected_language

    meta = row.get("meta") if isinstance(row.get("meta"), Mapping) else {}
    return {
        "language": _label(expected_language(row)[0]),
        "dataset": _label(meta.get("dataset")),
        "type": _label(meta.get("type")),
    }


def _label(value: object) -> str:
    return value.strip().lower() if isinstance(value, str) and value.strip() else "unknown"


def length_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """Truncation and length of a row's completion.

    ``truncated`` is ``finish_reason == "length"`` when the generator recorded it, else the
    parser's verdict (no closed answer section). ``completion_tokens`` is kept when recorded.

    >>> length_record({"completion": "English<|language_end|><|answer_start|>Hi", "completion_tokens": 9})
    {'truncated': True, 'completion_chars': 41, 'completion_tokens': 9}
    >>> length_record({"completion": "x", "finish_reason": "stop"})["truncated"]
    False
    """
    text = row_completion(row)
    finish = row.get("finish_reason")
    truncated = finish == "length" if finish in ("length", "stop") else parse_completion(text).truncated
    tokens = row.get("completion_tokens")
    return {
        "truncated": truncated,
        "completion_chars": len(text),
        "completion_tokens": tokens if isinstance(tokens, int) and not isinstance(tokens, bool) else None,
    }


def has_gold(row: Mapping[str, Any]) -> bool:
    """True when a row carries any gold: an answer, supporting ids or ``answerable``.

    >>> has_gold({"query": "q"}), has_gold({"answer": "A"}), has_gold({"answerable": False})
    (False, True, True)
    """
    return bool(gold_answers(row)) or bool(row.get("supporting_ids")) or isinstance(
        row.get("answerable"), bool)


def _mean(values: Iterable[float | None]) -> tuple[float | None, int]:
    present = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)
               and math.isfinite(v)]
    return (sum(present) / len(present) if present else None), len(present)


def _rate(values: Iterable[bool | None]) -> tuple[float | None, int]:
    return _mean(None if v is None else float(v) for v in values)


def summarise_group(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Aggregate records: reward means (over rows where each applies) and every other measure.

    >>> records = [
    ...     {"rewards": {"answer": 1.0, "refusal": None}, "answer": {"em": 1.0, "contains": 1.0, "f1": 1.0},
    ...      "judge": {"grade": "yes", "correct": True}, "rag_eval": {"rag_rank": 0.5},
    ...      "truncated": False, "completion_chars": 10, "completion_tokens": 4, "has_gold": True},
    ...     {"rewards": {"answer": 0.0, "refusal": None}, "answer": None, "judge": None, "rag_eval": None,
    ...      "truncated": True, "completion_chars": 30, "completion_tokens": None, "has_gold": False}]
    >>> group = summarise_group(records)
    >>> group["n"], group["rewards"], group["reward_counts"], group["n_without_gold"]
    (2, {'answer': 0.5, 'refusal': None}, {'answer': 2, 'refusal': 0}, 1)
    >>> group["judge"]["accuracy"], group["judge"]["grades"]["yes"], group["truncation_rate"]
    (1.0, 1, 0.5)
    """
    names = sorted({name for record in records for name in record.get("rewards", {})})
    rewards: dict[str, float | None] = {}
    counts: dict[str, int] = {}
    for name in names:
        rewards[name], counts[name] = _mean(r.get("rewards", {}).get(name) for r in records)
    group: dict[str, Any] = {
        "n": len(records),
        "n_without_gold": sum(1 for r in records if not r.get("has_gold")),
        "rewards": rewards,
        "reward_counts": counts,
        "answer": _summarise_answer(records),
        "judge": _summarise_judge(records),
        "rag_eval": _summarise_nested(records, "rag_eval"),
        "refusal": _summarise_refusal(records),
    }
    group["truncation_rate"], _ = _rate(r.get("truncated") for r in records)
    group["mean_completion_chars"], _ = _mean(r.get("completion_chars") for r in records)
    group["mean_completion_tokens"], _ = _mean(r.get("completion_tokens") for r in records)
    group["accuracy"] = primary_accuracy(group)
    return group


def _summarise_answer(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    scored = [r["answer"] for r in records if r.get("answer")]
    out: dict[str, Any] = {"n": len(scored)}
    for key in ("em", "contains", "f1"):
        out[key], _ = _mean(a.get(key) for a in scored)
    return out


def _summarise_refusal(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Refusal accuracy (refuses exactly when ``answerable`` is false) and the refusal rate.

    >>> _summarise_refusal([{"answerable": False, "refused": True}, {"answerable": True, "refused": True},
    ...                     {"answerable": None, "refused": False}])
    {'n': 2, 'accuracy': 0.5, 'refusal_rate': 0.6666666666666666, 'false_refusals': 1, 'missed_refusals': 0}
    """
    known = [r for r in records if isinstance(r.get("answerable"), bool)]
    accuracy, _ = _rate(r.get("refused") == (not r["answerable"]) for r in known)
    rate, _ = _rate(r.get("refused") for r in records)
    return {"n": len(known), "accuracy": accuracy, "refusal_rate": rate,
            "false_refusals": sum(1 for r in known if r["answerable"] and r.get("refused")),
            "missed_refusals": sum(1 for r in known if not r["answerable"] and not r.get("refused"))}


def _summarise_nested(records: Sequence[Mapping[str, Any]], field: str) -> dict[str, Any]:
    """Mean of each numeric key of a per-row dict field (e.g. the RAG-Eval measures)."""
    present = [r[field] for r in records if isinstance(r.get(field), Mapping)]
    keys = sorted({k for item in present for k, v in item.items() if isinstance(v, (int, float))})
    out: dict[str, Any] = {"n": len(present)}
    for key in keys:
        out[key], _ = _mean(item.get(key) for item in present)
    return out


def _summarise_judge(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    from pleias_rl.evaluation.judge import GRADES

    judged = [r["judge"] for r in records if isinstance(r.get("judge"), Mapping)]
    graded = [j for j in judged if j.get("grade") in GRADES]
    accuracy, _ = _rate(j.get("correct") for j in graded)
    return {
        "n": len(judged),
        "n_graded": len(graded),
        "failures": len(judged) - len(graded),
        "accuracy": accuracy,
        "grades": {grade: sum(1 for j in graded if j["grade"] == grade) for grade in GRADES},
    }


def primary_accuracy(group: Mapping[str, Any]) -> dict[str, Any] | None:
    """The group's headline accuracy: judge accuracy when judged, else answer containment, else F1.

    >>> primary_accuracy({"judge": {"accuracy": None}, "answer": {"contains": 0.8, "f1": 0.4}})
    {'metric': 'answer_contains', 'value': 0.8}
    """
    candidates = {
        "judge_accuracy": (group.get("judge") or {}).get("accuracy"),
        "answer_contains": (group.get("answer") or {}).get("contains"),
        "answer_f1": (group.get("answer") or {}).get("f1"),
    }
    for key in ACCURACY_KEYS:
        if candidates[key] is not None:
            return {"metric": key, "value": candidates[key]}
    return None


def language_loss(per_language: Mapping[str, Mapping[str, Any]]) -> dict[str, Any] | None:
    """The report's language loss: mean non-English accuracy as a share of English accuracy.

    The same accuracy measure is used for every language (the first of :data:`ACCURACY_KEYS`
    that English and every other language have). ``None`` without English and another language.

    >>> per_language = {"en": {"judge": {"accuracy": 0.8}, "answer": {}},
    ...                 "fr": {"judge": {"accuracy": 0.6}, "answer": {}},
    ...                 "de": {"judge": {"accuracy": 0.7}, "answer": {}}}
    >>> loss = language_loss(per_language)
    >>> loss["metric"], round(loss["ratio"], 4), round(loss["loss"], 4), loss["languages"]
    ('judge_accuracy', 0.8125, 0.1875, ['de', 'fr'])
    """
    others = sorted(lang for lang in per_language if lang not in ("en", "unknown"))
    if "en" not in per_language or not others:
        return None
    for metric in ACCURACY_KEYS:
        values = {lang: _metric_value(per_language[lang], metric) for lang in ["en", *others]}
        if all(value is not None for value in values.values()):
            english = values["en"]
            other_mean = sum(values[lang] for lang in others) / len(others)
            ratio = other_mean / english if english else None
            return {"metric": metric, "english": english, "non_english_mean": other_mean,
                    "ratio": ratio, "loss": None if ratio is None else 1.0 - ratio,
                    "languages": others}
    return None


def _metric_value(group: Mapping[str, Any], metric: str) -> float | None:
    section, key = {"judge_accuracy": ("judge", "accuracy"), "answer_contains": ("answer", "contains"),
                    "answer_f1": ("answer", "f1")}[metric]
    return (group.get(section) or {}).get(key)


def summarise(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The whole ``summary.json`` body (without run metadata) from per-row records.

    >>> records = [{"language": "en", "dataset": "hotpotqa", "type": "bridge",
    ...             "rewards": {"format": 1.0}, "has_gold": True},
    ...            {"language": "fr", "dataset": "hotpotqa", "type": "comparison",
    ...             "rewards": {"format": 0.0}, "has_gold": True}]
    >>> summary = summarise(records)
    >>> summary["n"], summary["overall"]["rewards"], summary["per_language"]["fr"]["rewards"]
    (2, {'format': 0.5}, {'format': 0.0})
    >>> sorted(summary["per_type"])
    ['bridge', 'comparison']
    """
    summary: dict[str, Any] = {"n": len(records), "overall": summarise_group(records)}
    summary["n_without_gold"] = summary["overall"]["n_without_gold"]
    for field, name in (("language", "per_language"), ("dataset", "per_dataset"), ("type", "per_type")):
        groups: dict[str, list[Mapping[str, Any]]] = {}
        for record in records:
            groups.setdefault(str(record.get(field, "unknown")), []).append(record)
        summary[name] = {key: summarise_group(groups[key]) for key in sorted(groups)}
    summary["language_loss"] = language_loss(summary["per_language"])
    return summary
