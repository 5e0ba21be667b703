"""The citation reward: targets on real HotpotQA records, every verdict, aggregation, bad input."""

from __future__ import annotations

import importlib.util
import pickle
import random
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from pleias_rl.data.corruptions import corrupt
from pleias_rl.data.format import format_ref, render_completion
from pleias_rl.data.targets import oracle_completion
from pleias_rl.rewards.citation import VERDICTS, CitationReward, citation_reward

REPO = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location(
    "citation_targets", REPO / "benchmarks" / "citation_targets.py")
citation_targets = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(citation_targets)

ROW = {
    "query": "Which village is at the end of the A5117 road?",
    "sources": [
        "The A5117 is a road in Cheshire, England. It runs between Shotwick and Helsby. "
        "It was opened in 1994 and is 7 km long.",
        {"text": "Helsby is a village in Cheshire. Its hill is a landmark. The village has a "
                 "railway station on the Chester line.", "metadata": {"title": "Helsby"}},
        "Shotwick is a small village on the Wirral.",
    ],
    "answer": "Helsby",
}


def answer(*refs: str, text: str = "Helsby") -> str:
    """A Trivial-path completion whose answer is ``text`` followed by the given refs."""
    return render_completion(language="English", query_analysis="Road question.",
                             query_report="Trivial", answer=text + "".join(refs) + ".")


def judged(*refs: str, row: dict = ROW) -> tuple[float | None, list[dict]]:
    score, diagnostics = citation_reward.explain(answer(*refs), row)
    return score, diagnostics["refs"]


GOOD = format_ref(1, "It runs between Shotwick and Helsby.")
GOOD_2 = format_ref(2, "Helsby is a village in Cheshire.")


# --- targets on real records (the benchmark asserts them on all 100) ------------------------

@pytest.fixture(scope="module")
def scores(hotpot_rows: list[dict]) -> dict[str, list[float]]:
    return citation_targets.score_cases(hotpot_rows[:30])


def test_every_issue_target_is_met_on_real_hotpotqa_records(scores: dict[str, list[float]]) -> None:
    missed = [(what, value, wanted) for what, value, wanted, met
              in citation_targets.targets(scores) if not met]
    assert missed == []


def test_real_numbers_per_category(scores: dict[str, list[float]]) -> None:
    def mean(name: str) -> float:
        return sum(scores[name]) / len(scores[name])
    assert len(scores["honest_trivial"]) == 30 and mean("honest_trivial") == 1.0
    assert mean("honest_elided") == 1.0 and mean("honest_typography") == 1.0
    assert max(scores["fabricated"] + scores["wrong_source"] + scores["query_copy"]) == 0.0
    assert max(scores["tiny_fragments"]) <= 0.1
    assert max(scores["padded_changed_digit"] + scores["padded_out_of_order"]) == 0.0
    assert mean("source_dump") == 0.25
    assert 0.0 < mean("paraphrase") < 0.6
    assert citation_targets.auc(scores["honest_full"], scores["paraphrase"]) == 1.0


# --- one verdict at a time ------------------------------------------------------------------

@pytest.mark.parametrize("ref, verdict, score", [
    (GOOD, "exact", 1.0),
    (format_ref(1, "\u201cit RUNS between   Shotwick and Helsby\u201d"), "exact", 1.0),
    (format_ref(1, "The A5117 is a road in Cheshire, England. (\u2026) It was opened in 1994"), "elided", 1.0),
    (format_ref(1, "The A5117 is a road (\u2026) opened in 1994"), "stitched", 0.0),
    (format_ref(1, "It runs betwen Shotwick and Helsby."), "fuzzy", pytest.approx(0.91, abs=0.02)),
    (format_ref(1, "The A5117 runs between Shotwick and Helsby"), "paraphrase", None),
    (format_ref(1, "The road was built by Roman soldiers during the winter."), "fabricated", 0.0),
    (format_ref(1, "Helsby is a village in Cheshire."), "wrong_source", 0.0),
    (format_ref(1, "Which village is at the end of the A5117 road?"), "query_quote", 0.0),
    (format_ref(1, "It was opened in 1995 and is 7 km long."), "number_changed", 0.0),
    (format_ref(1, "Shotwick"), "too_short", 0.1),
    (format_ref(1, "The A5117 (\u2026) road (\u2026) Helsby"), "too_short", 0.1),
    (format_ref(1, ROW["sources"][0]), "source_dump", 0.25),
    (format_ref(4, "It runs between Shotwick and Helsby."), "invalid_id", 0.0),
    (format_ref(1, "opened in 1994 (\u2026) It runs between Shotwick"), "out_of_order", 0.0),
])
def test_each_verdict(ref: str, verdict: str, score: float | None) -> None:
    total, refs = judged(ref)
    assert refs[0]["verdict"] == verdict
    if score is not None:
        assert refs[0]["score"] == score and total == score
    else:
        assert 0.0 < refs[0]["score"] < 0.5


def test_duplicate_and_unclosed_verdicts() -> None:
    assert [r["verdict"] for r in judged(GOOD, GOOD)[1]] == ["exact", "duplicate"]
    unclosed = answer(GOOD).replace("Helsby.</ref>", "Helsby.")
    _, diagnostics = citation_reward.explain(unclosed, ROW)
    assert diagnostics["refs"][0]["verdict"] == "unclosed"


def test_diagnostics_shape() -> None:
    score, diagnostics = citation_reward.explain(answer(GOOD, format_ref(1, "Helsby is a village in Cheshire.")), ROW)
    exact, wrong = diagnostics["refs"]
    assert set(exact) == {"index", "source_id", "quote", "verdict", "score", "aligned_span",
                          "aligned_text", "found_in", "rag_eval"}
    source = ROW["sources"][0]
    assert source[exact["aligned_span"][0]:exact["aligned_span"][1]] == exact["aligned_text"]
    assert exact["rag_eval"] == {"id_valid": True, "long_enough": True, "not_duplicated": True,
                                 "sw_score": 1.0}
    assert wrong["verdict"] == "wrong_source" and wrong["found_in"] == [2]
    assert set(diagnostics["rag_eval"]) == {"id_valid", "long_enough", "not_duplicated",
                                            "sw_score", "rag_rank"}
    assert {"valid_id_rate", "exact_rate", "rag_eval_mean"} <= set(diagnostics["metrics"])
    assert diagnostics["metrics"]["exact_rate"] == 0.5
    assert all(ref["verdict"] in VERDICTS for ref in diagnostics["refs"])


def test_rag_eval_reproduces_pleias_measures() -> None:
    _, refs = judged(format_ref(7, "a b c d"), format_ref(1, "It runs"), format_ref(1, "It runs"))
    measures = [ref["rag_eval"] for ref in refs]
    assert [m["id_valid"] for m in measures] == [False, True, True]
    assert [m["long_enough"] for m in measures] == [True, False, False]
    assert [m["not_duplicated"] for m in measures] == [True, True, False]
    glued = {"query": "q", "sources": ["It ends in Helsby.The next sentence follows."]}
    _, refs = judged(format_ref(1, "It ends in Helsby."), row=glued)
    assert refs[0]["verdict"] == "exact" and refs[0]["rag_eval"]["sw_score"] == 0.75
    typo = answer(format_ref(1, "It runs between Chester and Helsby."))
    exact_sw = CitationReward(exact_sw=True).explain(typo, ROW)[1]["refs"][0]["rag_eval"]["sw_score"]
    fast_sw = citation_reward.explain(typo, ROW)[1]["refs"][0]["rag_eval"]["sw_score"]
    assert exact_sw == fast_sw == (2 * 5 - 1) / 2 / 6


# --- aggregation ----------------------------------------------------------------------------

def test_one_bad_quote_caps_the_score_however_many_honest_quotes_surround_it(
        hotpot_rows: list[dict]) -> None:
    bad = format_ref(1, "The road was built by Roman soldiers during the winter.")
    honest = [GOOD, GOOD_2, format_ref(2, "Its hill is a landmark."),
              format_ref(3, "Shotwick is a small village on the Wirral.")]
    for count in range(len(honest) + 1):
        assert judged(*honest[:count], bad)[0] <= 0.5
    row = hotpot_rows[0]
    padded = corrupt(oracle_completion(row), row, "honest_padding", seed=3)
    assert citation_reward.explain(padded, row)[0] <= 0.5


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([
    GOOD, GOOD_2, format_ref(1, "It runs betwen Shotwick and Helsby."),
    format_ref(1, "The A5117 runs between Shotwick and Helsby"),
    format_ref(2, "Its hill is a landmark."), format_ref(9, "x y z")]), min_size=1, max_size=5),
    st.sampled_from([GOOD, GOOD_2, format_ref(2, "Its hill is a landmark.")]))
def test_citing_more_never_raises_the_score(refs: list[str], extra: str) -> None:
    assert judged(*refs, extra)[0] <= judged(*refs)[0]


def test_no_refs_scores_zero_on_answerable_rows_and_none_on_unanswerable() -> None:
    assert citation_reward.explain(answer(), ROW)[0] == 0.0
    assert citation_reward.explain(answer(), {**ROW, "answerable": True})[0] == 0.0
    assert citation_reward.explain(answer(), {**ROW, "answerable": False})[0] is None
    refusal = oracle_completion({**ROW, "answerable": False})
    assert citation_reward.explain(refusal, {**ROW, "answerable": False})[0] is None
    assert citation_reward.explain("", ROW)[0] == 0.0


# --- API ------------------------------------------------------------------------------------

def test_trl_calling_convention_pickling_threads_and_options() -> None:
    good, made_up = answer(GOOD), answer(format_ref(1, "Bees make honey in the hills."))
    columns = {key: [value, value] for key, value in ROW.items()}
    assert citation_reward(completions=[good, made_up], **columns) == [1.0, 0.0]
    conversational = [[{"role": "assistant", "content": good}]]
    assert citation_reward(completions=conversational, prompts=["p"], trainer_state=None,
                           **{k: [v] for k, v in ROW.items()}) == [1.0]
    clone = pickle.loads(pickle.dumps(citation_reward))
    assert clone.__name__ == "citation" and clone(completions=[good], **{k: [v] for k, v in ROW.items()}) == [1.0]
    results: list[list] = []
    threads = [threading.Thread(target=lambda: results.append(
        citation_reward(completions=[good, made_up], **columns))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [[1.0, 0.0]] * 4
    lenient = CitationReward(min_quote_words=1)
    assert lenient.explain(answer(format_ref(1, "England")), ROW)[1]["refs"][0]["verdict"] == "exact"
    with pytest.raises(TypeError):
        CitationReward(no_such_option=1)
    logged: dict[str, float] = {}
    citation_reward(completions=[good], log_metric=logged.__setitem__, **{k: [v] for k, v in ROW.items()})
    assert logged["citation/exact_rate"] == 1.0 and logged["citation/rag_eval_mean"] == 1.0


def test_registry_builds_a_parameterised_citation_reward() -> None:
    from pleias_rl.rewards.registry import get_reward
    reward = get_reward("citation", fuzzy_threshold=0.95)
    assert isinstance(reward, CitationReward) and reward.settings.fuzzy_threshold == 0.95


# --- bad input ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ['<|source_id|>-1', "99999999999", "0", "abc", "", "1.5",
                                  "<|source_id|>99999999999999999999", "\u0661"])
def test_strange_ids_are_invalid_never_errors(name: str) -> None:
    completion = answer(f'<ref name="{name}">It runs between Shotwick and Helsby.</ref>')
    score, diagnostics = citation_reward.explain(completion, ROW)
    assert score == 0.0 and diagnostics["refs"][0]["verdict"] == "invalid_id"


JUNK = st.lists(st.sampled_from(list("ab <>/|\"=(…).1\n") + [
    "<ref name=\"1\">", "<ref name=\"<|source_id|>2\">", "</ref>", "<|answer_start|>",
    "<|answer_end|>", "English<|language_end|>", "(…)", "It runs between Shotwick", "\u2060",
    "<ref name=\"99999999999\">", "<ref name='-1'>", "\x00", "\ud7ff"]), max_size=60).map("".join)


@settings(max_examples=300, deadline=None)
@given(JUNK, st.sampled_from([ROW, {"query": "q", "sources": []}, {"sources": None},
                              {"query": 3, "sources": [None, 5, {"text": 7}, "x"]}, {}]))
def test_never_raises_and_stays_in_range(text: str, row: dict) -> None:
    score, diagnostics = citation_reward.explain("<|answer_start|>" + text, row)
    assert "internal_error" not in diagnostics
    assert score is None or 0.0 <= score <= 1.0
    score, diagnostics = citation_reward.explain(text, row)
    assert "internal_error" not in diagnostics and (score is None or 0.0 <= score <= 1.0)


def test_100k_character_junk_is_scored() -> None:
    rng = random.Random(1)
    pieces = ["<ref name=\"1\">", "</ref>", "It runs between ", "Helsby ", "(…) ", "1994 ", "x" * 50]
    junk = "".join(rng.choice(pieces) for _ in range(8000))[:100_000]
    long_quote = answer(format_ref(1, "It runs " * 12_500))
    huge_source = {"query": "q", "sources": ["word " * 20_000 + "It runs between Shotwick."]}
    for completion, row in ((answer(junk), ROW), (long_quote, ROW), (long_quote, huge_source),
                            (answer(format_ref(1, "x" * 100_000)), huge_source)):
        score, diagnostics = citation_reward.explain(completion, row)
        assert "internal_error" not in diagnostics and 0.0 <= score <= 1.0


# --- the attacks of issue 16, one verdict each, next to their honest twins -------------------

COURT = {
    "query": "The A5117 runs between Shotwick and which village?",
    "sources": [
        "The jury found the contractor not guilty of negligence after a long trial in Chester. "
        "Residents were unhappy with the road, which cost 1,500 pounds a metre and 2.5 million "
        "pounds in all. The council never paid the contractor for the extra lanes. "
        "In 2004 Brook sued Hale over the cost of the extra lanes on the new road.",
        "The A5117 is a road in Cheshire, England. It runs between Shotwick and Helsby.",
        "Tom Hale is an American engineer. He built the bridge.",
        "Anne Brook is an American lawyer. She won the case.",
    ],
}


@pytest.mark.parametrize("quote, source_id, verdict", [
    ("The jury found the contractor (\u2026) guilty of negligence", 1, "meaning_elided"),
    ("The jury found the contractor not guilty (\u2026) a long trial in Chester.", 1, "short_elision"),
    ("The jury found the contractor (\u2026) paid the contractor for the extra lanes.", 1, "stitched"),
    ("happy with the road", 1, "cut_word"),
    ("500 pounds a metre", 1, "number_changed"),
    ("5 million pounds in all", 1, "number_changed"),
    ("guilty of negligence after a long trial", 1, "meaning_elided"),
    ("The jury found the contractor guilty of negligence after a long trial in Chester.", 1,
     "negation_changed"),
    ("In 2004 Brook sued Dale over the cost of the extra lanes on the new road.", 1, "name_changed"),
    ("is an American", 3, "unspecific"),
    ("The A5117 runs between Shotwick and Helsby", 2, "paraphrase"),
])
def test_each_attack_of_issue_16_fires_its_verdict(quote: str, source_id: int, verdict: str) -> None:
    score, refs = judged(format_ref(source_id, quote), row=COURT)
    assert refs[0]["verdict"] == verdict
    assert score <= (0.5 if verdict == "paraphrase" else 0.1)


@pytest.mark.parametrize("quote, source_id", [
    ("The jury found the contractor not guilty of negligence after a long trial in Chester.", 1),
    ("The jury found the contractor not guilty of negligence after a long trial in Chester. (\u2026) "
     "In 2004 Brook sued Hale over the cost of the extra lanes on the new road.", 1),
    ("Residents were unhappy with the road, which cost 1,500 pounds a metre (\u2026)", 1),
    ("Residents were unhappy with the road, (\u2026) and 2.5 million pounds in all.", 1),
    ("unhappy with the road", 1),
    ("The council never paid the contractor for the extra lanes.", 1),
    ("It runs between Shotwick and Helsby.", 2),
    ("The A5117 is a road in Cheshire, England.", 2),
])
def test_honest_twins_keep_full_credit(quote: str, source_id: int) -> None:
    score, refs = judged(format_ref(source_id, quote), row=COURT)
    assert (score, refs[0]["verdict"] in ("exact", "elided")) == (1.0, True)


def test_a_near_exact_dump_is_a_dump_and_many_tiny_refs_do_not_pay() -> None:
    dumped = COURT["sources"][0].replace("contractor", "contractr", 1)
    assert [r["verdict"] for r in judged(format_ref(1, dumped), row=COURT)[1]] == ["source_dump"]
    tiny = [format_ref(1, quote) for quote in ("trial in Chester", "the extra lanes", "Residents were unhappy")]
    score, refs = judged(*tiny, row=COURT)
    assert score == 0.25 and {r["verdict"] for r in refs} == {"tiny_refs"}
    assert judged(*tiny[:2], row=COURT)[0] == 1.0
