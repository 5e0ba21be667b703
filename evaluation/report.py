"""``report.md`` of one evaluation run, and the side-by-side report of several runs (``--compare``).

Both read only ``summary.json`` bodies, so a report can be rebuilt from any finished run.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from pleias_rl.evaluation.judge import GRADES


def headline(group: Mapping[str, Any]) -> dict[str, float | None]:
    """The headline measures of a summary group (overall or one language/dataset/type), by label.

    Reward means follow as ``reward:<name>``.

    >>> group = {"n": 3, "judge": {"accuracy": 0.5}, "answer": {"em": 0.1, "contains": 0.6, "f1": 0.4},
    ...          "rag_eval": {"rag_rank": 0.9}, "refusal": {"accuracy": None}, "truncation_rate": 0.0,
    ...          "mean_completion_chars": 120.0, "rewards": {"format": 1.0}}
    >>> metrics = headline(group)
    >>> metrics["judge accuracy"], metrics["RAG-Eval rag rank"], metrics["reward:format"]
    (0.5, 0.9, 1.0)
    """
    answer = group.get("answer") or {}
    values: dict[str, float | None] = {
        "n": group.get("n"),
        "judge accuracy": (group.get("judge") or {}).get("accuracy"),
        "answer EM": answer.get("em"),
        "answer contains": answer.get("contains"),
        "answer F1": answer.get("f1"),
        "RAG-Eval rag rank": (group.get("rag_eval") or {}).get("rag_rank"),
        "refusal accuracy": (group.get("refusal") or {}).get("accuracy"),
        "truncation rate": group.get("truncation_rate"),
        "mean completion chars": group.get("mean_completion_chars"),
        "mean completion tokens": group.get("mean_completion_tokens"),
    }
    for name, value in (group.get("rewards") or {}).items():
        values[f"reward:{name}"] = value
    return values


GROUP_COLUMNS_LEFT_OUT: frozenset[str] = frozenset(
    {"answer EM", "answer F1", "mean completion chars", "mean completion tokens"})
"""Headline measures left out of the per-group tables (kept narrow); the overall table has them."""


ACCURACY_NOTE = ("Accuracy is the judge's when an LLM judge graded the run, else the normalised "
                 "answer containment (then F1).")
"""How the per-group accuracy of a comparison is defined (:func:`pleias_rl.evaluation.metrics.primary_accuracy`)."""


def fmt(value: object) -> str:
    """A table cell: floats to 3 decimals, ``None`` as an en dash.

    >>> fmt(0.12345), fmt(None), fmt(12), fmt(1234.5)
    ('0.123', '–', '12', '1234.5')
    """
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) >= 100 else f"{value:.3f}"
    return str(value)


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table.

    >>> print(table(["a", "b"], [[1, 0.5]]))
    | a | b |
    |---|---|
    | 1 | 0.500 |
    """
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def group_table(groups: Mapping[str, Mapping[str, Any]], title: str) -> str:
    """One row per group (language, dataset or type) with its headline measures as columns.

    Columns with no value in any group are left out.

    >>> print(group_table({"en": {"n": 2, "rewards": {"format": 1.0}}}, "language"))
    | language | n | reward:format |
    |---|---|---|
    | en | 2 | 1.000 |
    """
    measures = {key: headline(group) for key, group in groups.items()}
    columns = [label for label in next(iter(measures.values()), {})
               if label not in GROUP_COLUMNS_LEFT_OUT
               and any(m.get(label) is not None for m in measures.values())]
    return table([title, *columns], [[key, *(m.get(c) for c in columns)] for key, m in measures.items()])


def language_loss_line(loss: Mapping[str, Any] | None) -> str:
    """One sentence on the report's language loss.

    >>> language_loss_line({"metric": "judge_accuracy", "english": 0.8, "non_english_mean": 0.6,
    ...                     "ratio": 0.75, "loss": 0.25, "languages": ["fr"]})
    'Language loss (judge_accuracy): non-English mean 0.600 (fr) = 0.750 of English 0.800, a loss of 0.250.'
    >>> language_loss_line(None)
    'Language loss: needs English and at least one other language.'
    """
    if not loss:
        return "Language loss: needs English and at least one other language."
    return (f"Language loss ({loss['metric']}): non-English mean {fmt(loss['non_english_mean'])} "
            f"({', '.join(loss['languages'])}) = {fmt(loss['ratio'])} of English "
            f"{fmt(loss['english'])}, a loss of {fmt(loss['loss'])}.")


def render_report(summary: Mapping[str, Any], plots: Sequence[str] = ()) -> str:
    """The Markdown report of one run.

    >>> from pleias_rl.evaluation.metrics import summarise
    >>> summary = summarise([{"language": "en", "dataset": "hotpotqa", "type": "bridge",
    ...                       "rewards": {"format": 1.0}, "has_gold": True}])
    >>> text = render_report(summary)
    >>> text.splitlines()[0], "## Per language" in text
    ('# Evaluation report', True)
    """
    overall = summary["overall"]
    parts = ["# Evaluation report", "", _run_line(summary), "",
             "## Overall", "",
             table(["measure", "value"], [(k, v) for k, v in headline(overall).items() if v is not None]), "",
             language_loss_line(summary.get("language_loss")), ""]
    parts += _judge_section(overall, summary.get("judge"))
    rag_eval = {k: v for k, v in (overall.get("rag_eval") or {}).items() if k != "n"}
    if rag_eval:
        parts += ["## RAG-Eval citation measures (Pleias)", "",
                  f"Over {overall['rag_eval']['n']} rows with a citation diagnostic.", "",
                  table(["measure", "mean"], list(rag_eval.items())), ""]
    for key, title in (("per_language", "language"), ("per_dataset", "dataset"), ("per_type", "type")):
        parts += [f"## Per {title}", "", group_table(summary.get(key) or {}, title), ""]
    parts += [f"![{name}]({name})" for name in plots]
    return "\n".join(parts).rstrip() + "\n"


def _run_line(summary: Mapping[str, Any]) -> str:
    run = summary.get("run") or {}
    source = run.get("model") or run.get("generations") or "?"
    return (f"Source: `{source}`. Rows: {summary['n']} ({summary.get('n_without_gold', 0)} without "
            f"gold, scored for what applies; {run.get('skipped_lines', 0)} input lines skipped).")


def _judge_section(overall: Mapping[str, Any], stats: Mapping[str, Any] | None) -> list[str]:
    judge = overall.get("judge") or {}
    if not judge.get("n"):
        return ["No LLM judge was used (`--judge-url` or `--judge-local`): accuracy is the "
                "normalised answer match.", ""]
    lines = ["## LLM-as-a-match judge", ""]
    if stats:
        lines += [f"Judge `{stats.get('model')}`: {stats.get('requests', 0)} requests, "
                  f"{stats.get('cache_hits', 0)} cache hits, {stats.get('errors', 0)} transport errors.", ""]
    lines += [f"Judge accuracy {fmt(judge.get('accuracy'))} over {judge.get('n_graded', 0)} graded rows; "
              f"{judge.get('failures', 0)} rows without a grade are left out of it.", ""]
    rows = [[grade, judge["grades"].get(grade, 0)] for grade in GRADES]
    rows.append(["(no grade: judge failure)", judge.get("failures", 0)])
    lines += [table(["grade", "rows"], rows), "",
              "Correct: \"yes\" for HotpotQA and 2Wiki, \"yes\" or \"rather yes\" for MuSiQue.", ""]
    return lines


def render_compare(labels: Sequence[str], summaries: Sequence[Mapping[str, Any]],
                   plot: str | None = None) -> str:
    """The side-by-side Markdown report of several runs (one column per run).

    >>> from pleias_rl.evaluation.metrics import summarise
    >>> before = summarise([{"language": "en", "rewards": {"format": 0.5}, "has_gold": True}])
    >>> after = summarise([{"language": "en", "rewards": {"format": 0.9}, "has_gold": True}])
    >>> print(render_compare(["before", "after"], [before, after]).split("## Overall")[1].splitlines()[5])
    | reward:format | 0.500 | 0.900 | +0.400 |
    """
    header = ["measure", *labels] + (["Δ last − first"] if len(labels) > 1 else [])
    parts = ["# Evaluation comparison", "", "Runs: " + ", ".join(f"`{l}`" for l in labels), "",
             "## Overall", "", table(header, _compare_rows([headline(s["overall"]) for s in summaries])), ""]
    losses = [(s.get("language_loss") or {}).get("ratio") for s in summaries]
    if any(loss is not None for loss in losses):
        parts += ["Language-loss ratio (non-English accuracy / English): "
                  + ", ".join(f"{l} {fmt(v)}" for l, v in zip(labels, losses)), ""]
    for key, title in (("per_language", "language"), ("per_dataset", "dataset")):
        names = sorted({name for s in summaries for name in (s.get(key) or {})})
        rows = [[name, *(_accuracy((s.get(key) or {}).get(name)) for s in summaries)] for name in names]
        parts += [f"## Accuracy per {title}", "", ACCURACY_NOTE, "", table([title, *labels], rows), ""]
    if plot:
        parts.append(f"![{plot}]({plot})")
    return "\n".join(parts).rstrip() + "\n"


def _accuracy(group: Mapping[str, Any] | None) -> float | None:
    accuracy = (group or {}).get("accuracy")
    return accuracy.get("value") if isinstance(accuracy, Mapping) else None


def _delta(first: float, last: float) -> str:
    """The signed change between two runs: whole numbers stay whole.

    >>> _delta(47, 50), _delta(0.25, 0.5)
    ('+3', '+0.250')
    """
    if isinstance(first, int) and isinstance(last, int):
        return f"{last - first:+d}"
    return f"{last - first:+.3f}"


def _compare_rows(measures: Sequence[Mapping[str, float | None]]) -> list[list[object]]:
    labels: list[str] = []
    for run in measures:
        labels += [label for label in run if label not in labels]
    rows: list[list[object]] = []
    for label in labels:
        values = [run.get(label) for run in measures]
        if all(value is None for value in values):
            continue
        row: list[object] = [label, *values]
        if len(values) > 1:
            first, last = values[0], values[-1]
            row.append(None if first is None or last is None else _delta(first, last))
        rows.append(row)
    return rows
