"""pleias_rl.rewards.format: clean outputs score 1.0, each violation strictly less, no-answer cases <= 0.3."""

from __future__ import annotations

import pytest

from pleias_rl.data.format import EOS_TOKEN, format_ref, render_completion
from pleias_rl.rewards.format import (NO_ANSWER_CAP, FormatReward, degenerate_sequence, format_reward,
                                      repetition_problem)


def full(answer: str = "The A5117 runs to Helsby" + format_ref(2, "It runs between Shotwick and Helsby") + ".",
         **overrides: str | None) -> str:
    values = dict(language="English", query_analysis="The query asks where the road runs.",
                  query_report="Answerable", source_analysis="Source 2 names both towns.",
                  source_report="Basic", draft="It runs to Helsby.", answer=answer)
    values.update(overrides)
    return render_completion(**values)


def trivial(answer: str = "Helsby" + format_ref(1, "the village of Helsby") + ".", **overrides: str | None) -> str:
    values = dict(language="English", query_analysis="A simple lookup.", query_report="Trivial",
                  answer=answer)
    values.update(overrides)
    return render_completion(**values)


LOOP = "The road runs to Helsby and then it runs back. " * 10

# (name, clean twin, violated output, expected violation kind)
VIOLATIONS = [
    ("no language line", full(), full().replace("English<|language_end|>\n", ""), "missing_language"),
    ("empty language line", full(), full(language=" "), "bad_language"),
    ("missing draft on full path", full(), full(draft=None), "missing_section"),
    ("missing source analysis", full(), full(source_analysis=None), "missing_section"),
    ("empty draft", full(), full(draft=" "), "empty_section"),
    ("invalid query report", full(), full(query_report="Maybe"), "invalid_label"),
    ("invalid source report", full(), full(source_report="Great"), "invalid_label"),
    ("sections out of order", full(), full().replace(
        "<|query_report_start|>Answerable<|query_report_end|>\n", "").replace(
        "<|draft_end|>", "<|draft_end|><|query_report_start|>Answerable<|query_report_end|>"),
     "out_of_order"),
    ("duplicated section", full(), full().replace(
        "<|draft_start|>", "<|draft_start|>x<|draft_end|><|draft_start|>"), "duplicate_section"),
    ("unclosed draft", full(), full().replace("<|draft_end|>", ""), "unmatched_token"),
    ("stray text between sections", full(), full().replace(
        "<|draft_start|>", "stray words<|draft_start|>"), "stray_text"),
    ("text after answer", full(), full().replace(EOS_TOKEN, " More text." + EOS_TOKEN), "text_after_answer"),
    ("ref outside the answer", full(), full(draft="Helsby" + format_ref(2, "Helsby")), "ref_outside_answer"),
    ("unclosed ref", trivial(), trivial(answer='Helsby<ref name="1">the village.'), "malformed_ref"),
    ("non-numeric ref id", trivial(), trivial(answer='Helsby<ref name="x">the village</ref>.'), "malformed_ref"),
    ("unquoted ref id", trivial(), trivial(answer='Helsby<ref name=1>the village</ref>.'), "malformed_ref"),
    ("huge ref id", trivial(), trivial(answer='Helsby<ref name="99999999999">the village</ref>.'), "malformed_ref"),
    ("unknown token", trivial(), trivial().replace("<|answer_start|>", "<|thinking|><|answer_start|>"),
     "unexpected_token"),
    ("repetition loop in the answer", trivial(), trivial(answer=LOOP), "repetition"),
    ("character loop in the draft", full(), full(draft="ha" * 300), "repetition"),
    ("truncated answer", trivial(), trivial()[:-40], "truncated"),
    ("missing answer", trivial(), trivial().split("<|answer_start|>")[0], "no_answer"),
    ("empty answer", trivial(), trivial(answer="  "), "empty_answer"),
    # the format attacks of issue 16
    ("a dot for an answer", trivial(), trivial(query_analysis=".", answer="."), "empty_answer"),
    ("zero-width query analysis", trivial(), trivial(query_analysis="\u200b\u200c\u2060"), "empty_section"),
    ("counting answer", trivial(), trivial(answer=" ".join(map(str, range(400)))), "repetition"),
    ("symbol run in the draft", full(), full(draft="Helsby " + "=" * 40), "repetition"),
    ("short loop in the answer", trivial(), trivial(answer="Helsby. " + "ab" * 40), "repetition"),
    ("Klingon language line", trivial(), trivial(language="Klingon"), "bad_language"),
]

ATTACKS = VIOLATIONS[-6:]


def test_clean_outputs_score_one():
    scores = format_reward(completions=[full(), trivial(), full().removesuffix(EOS_TOKEN),
                                        trivial(query_report="trivial."),
                                        trivial(query_report="Refused", answer="I cannot answer.")])
    assert scores == [1.0] * 5


@pytest.mark.parametrize(("name", "clean", "broken", "kind"), VIOLATIONS, ids=[v[0] for v in VIOLATIONS])
def test_each_violation_scores_below_its_clean_twin(name, clean, broken, kind):
    clean_score, _ = format_reward.explain(clean, {})
    score, diagnostics = format_reward.explain(broken, {})
    assert clean_score == 1.0
    assert score < clean_score
    assert kind in [v["kind"] for v in diagnostics["violations"]]
    if kind in ("truncated", "no_answer", "empty_answer"):
        assert score <= NO_ANSWER_CAP


def test_measured_scores_per_violation():
    scores = {name: format_reward.explain(broken, {})[0] for name, _, broken, _ in VIOLATIONS}
    assert scores["text after answer"] == 0.6
    assert scores["missing draft on full path"] == 0.75
    assert scores["repetition loop in the answer"] == 0.4
    assert scores["truncated answer"] <= 0.3 and scores["missing answer"] <= 0.3
    assert max(scores.values()) < 1.0


@pytest.mark.parametrize(("name", "clean", "broken", "kind"), ATTACKS, ids=[v[0] for v in ATTACKS])
def test_format_attacks_score_at_most_half(name, clean, broken, kind):
    assert format_reward.explain(broken, {})[0] <= 0.5


def test_degenerate_sequences_spare_natural_text(hotpot_rows):
    texts = [source["text"] for row in hotpot_rows for source in row["sources"]]
    assert [t for t in texts if degenerate_sequence(t)] == []


@pytest.mark.parametrize(("text", "problem"), [
    ("Helsby " + " ".join("٠١٢٣٤٥٦٧٨٩"[tens] + "٠" for tens in range(1, 10)) + " ١٠٠ ١١٠ ١٢٠",
     "counts through 12 numbers"),
    ("Helsby" + "é".join(str(number) for number in range(1, 13)), "counts through 12 numbers"),
    ("Helsby «\u00a0»«»«»«»«»«»", "a run of 13 symbols"),  # a no-break space is a space to re
    ("Helsby " + " ".join(str(number) for number in range(11)), None),
    ("Helsby «»«»«»«»«»«»", "a run of 12 symbols"),
    ("Helsby " + "!" * 11 + " " + "x" * 12, None),
    ("Helsby \x1c!\x1c" + "?!" * 5 + "\x1f!", "a run of 14 symbols"),  # \x1c and \x1f are spaces to re
])
def test_degenerate_sequence_counts_digits_and_symbols_of_any_script(text, problem):
    assert degenerate_sequence(text) == problem


def test_more_violations_score_lower():
    one = format_reward.explain(full(draft=None), {})[0]
    two = format_reward.explain(full(draft=None, source_report="Great"), {})[0]
    assert two < one < 1.0


def test_trivial_path_may_skip_but_full_path_may_not():
    skipped = full(source_analysis=None, source_report=None, draft=None)
    assert format_reward.explain(skipped, {})[0] < 1.0
    assert format_reward.explain(skipped.replace("Answerable", "Trivial"), {})[0] == 1.0


def test_real_hotpot_outputs_are_clean(hotpot_rows):
    completions = []
    for row in hotpot_rows:
        evidence = " ".join(s["text"] for s in row["sources"][:3])
        quotes = "".join(format_ref(sid, sentence) for sid, sentence in row["meta"]["supporting_sentences"])
        completions.append(full(source_analysis=evidence, draft=row["sources"][0]["text"],
                                answer=f"The answer is {row['answer']}{quotes}."))
    scores = format_reward(completions=completions)
    assert min(scores) == 1.0


def test_repetition_detector_spares_natural_text(hotpot_rows):
    texts = [source["text"] for row in hotpot_rows for source in row["sources"]]
    assert [t for t in texts if repetition_problem(t)] == []


def test_diagnostics_and_metrics():
    score, diagnostics = format_reward.explain(trivial()[:-40], {})
    assert diagnostics["path"] == "trivial"
    assert diagnostics["metrics"] == {"clean": 0.0, "truncated": 1.0}
    logged = {}
    FormatReward()(completions=[trivial(), "junk"], log_metric=logged.__setitem__)
    assert logged["format/clean"] == 0.5


def test_every_parse_error_kind_has_a_factor_and_kinds_do_not_depend_on_the_wording():
    from pleias_rl.data.format import ParseErrorKind, parse_completion
    from pleias_rl.rewards.format import VIOLATION_FACTORS

    assert {kind.value for kind in ParseErrorKind} <= set(VIOLATION_FACTORS) - {"other"}
    # a label or stray text that happens to hold another message's words keeps its own kind
    label = parse_completion(trivial().replace(">Trivial<", ">it is not closed<"))
    stray = parse_completion(full().replace("<|draft_start|>", "opens before<|draft_start|>", 1))
    assert ParseErrorKind.INVALID_LABEL in [error.kind for error in label.errors]
    assert ParseErrorKind.UNMATCHED_TOKEN not in [error.kind for error in label.errors]
    assert [error.kind for error in stray.errors] == [ParseErrorKind.STRAY_TEXT]
    assert format_reward.explain(stray.text, {})[0] == 0.85


def test_parse_errors_pickle_and_read_as_their_message():
    import pickle

    from pleias_rl.data.format import ParseErrorKind, parse_completion

    errors = parse_completion("English<|language_end|><|answer_start|>Half").errors
    assert errors[0] == "section answer is not closed (truncated output?)"
    restored = pickle.loads(pickle.dumps(errors))
    assert restored == errors and [e.kind for e in restored] == [e.kind for e in errors]
    assert restored[0].kind is ParseErrorKind.TRUNCATED

