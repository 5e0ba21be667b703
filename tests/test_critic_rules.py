"""The rule critic on honest and corrupted completions built from the shipped HotpotQA sample."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pleias_rl.critics.base import FAILURE_KINDS, Issue, Verdict
from pleias_rl.critics.rules import RuleCritic
from pleias_rl.data.corruptions import citation_cases
from pleias_rl.data.format import SPECIAL_TOKENS, format_ref, parse_completion, render_completion
from pleias_rl.data.targets import oracle_completion
from pleias_rl.rewards.citation import CitationReward
from pleias_rl.rewards.format import FormatReward

CITATION = CitationReward()
FORMAT = FormatReward()

EXPECTED_KIND = {  # a fabricated quote holding a number may be judged a changed number
    "fabricated": "misquote", "paraphrase": "misquote", "wrong_source": "wrong_source",
    "query_copy": "query_quote", "changed_digit": "number_changed", "tiny_fragments": "quote_shape",
    "out_of_order": "quote_shape", "duplicate": "quote_shape", "source_dump": "quote_shape",
    "padded_fabricated": "misquote", "padded_wrong_source": "wrong_source",
    "padded_query_copy": "query_quote", "padded_changed_digit": "number_changed",
    "padded_tiny_fragments": "quote_shape", "padded_out_of_order": "quote_shape",
}


def acceptable(category: str) -> set[str]:
    kind = EXPECTED_KIND[category]
    return {kind, "number_changed"} if kind == "misquote" else {kind}


REPAIRABLE_WITHOUT_GOLD = sorted(set(EXPECTED_KIND) - {"fabricated", "query_copy"})


@pytest.fixture(scope="module")
def cases(hotpot_rows):
    return citation_cases(hotpot_rows[:50])


def verified(row, completion: str) -> bool:
    """The acceptance bar: citation = format = 1.0 on our rewards and a clean rule verdict."""
    return (CITATION.explain(completion, row)[0] == 1.0 and FORMAT.explain(completion, row)[0] == 1.0
            and RuleCritic().critique(row, completion).passed)


@pytest.mark.parametrize("category", ["honest_trivial", "honest_full", "honest_elided", "honest_long"])
def test_honest_completions_pass(cases, category):
    critic = RuleCritic()
    verdicts = [critic.critique(row, completion) for completion, row in cases[category]]
    assert len(verdicts) >= 20
    assert [v.kinds for v in verdicts if not v.passed] == []


@pytest.mark.parametrize("category", REPAIRABLE_WITHOUT_GOLD)
def test_corruptions_detected_and_repaired_without_gold(cases, category):
    critic = RuleCritic(repair_with_gold=False)
    assert len(cases[category]) >= 40
    for completion, row in cases[category]:
        verdict = critic.critique(row, completion)
        assert not verdict.passed
        assert acceptable(category) & set(verdict.kinds), (category, verdict.kinds)
        assert verdict.revision is not None, (category, verdict.feedback())
        assert verified(row, verdict.revision), (category, verdict.feedback(), verdict.revision)


@pytest.mark.parametrize("category", ["fabricated", "query_copy"])
def test_nothing_true_to_cite_needs_gold(cases, category):
    no_gold, gold = RuleCritic(repair_with_gold=False), RuleCritic()
    revisions = [no_gold.critique(row, completion).revision for completion, row in cases[category]]
    assert sum(revision is None for revision in revisions) >= 0.95 * len(revisions)
    for completion, row in cases[category]:
        verdict = gold.critique(row, completion)
        assert acceptable(category) & set(verdict.kinds)
        assert verified(row, verdict.revision)


def test_misquote_becomes_the_closest_true_span():
    row = {"query": "Where does the A5117 end?",
           "sources": ["The A5117 is a road in Cheshire. It runs between Shotwick and Helsby."]}
    bad = render_completion(language="English", query_analysis="Easy.", query_report="Trivial",
                            answer="It ends in Helsby" + format_ref(1, "It runs between Shotwick and Helsbey") + ".")
    verdict = RuleCritic(repair_with_gold=False).critique(row, bad)
    assert verdict.kinds == ["misquote"]
    assert parse_completion(verdict.revision).citations[0].quote == "It runs between Shotwick and Helsby"
    assert verdict.issues[0].span == parse_completion(bad).citations[0].span


@pytest.fixture(scope="module")
def honest(hotpot_rows):
    row = hotpot_rows[0]
    return row, oracle_completion(row)


FORMAT_FAULTS = {
    "text_after_answer": lambda c: c.replace("<|end_of_text|>", "") + " And some more words.",
    "sections_out_of_order": lambda c: c.replace(
        "<|query_report_start|>Trivial<|query_report_end|>\n", "").replace(
        "English<|language_end|>\n", "English<|language_end|>\n<|query_report_start|>Trivial<|query_report_end|>\n"
    ).replace("<|query_analysis_end|>\n<|answer_start|>", "<|query_analysis_end|>\n<|answer_start|>"),
    "bad_label": lambda c: c.replace(">Trivial<", ">Obvious<"),
    "unbalanced": lambda c: c.replace("<|query_analysis_end|>", ""),
    "missing_query_report": lambda c: c.replace("<|query_report_start|>Trivial<|query_report_end|>\n", ""),
    "unclosed_ref": lambda c: c.replace("</ref>", "", 1),
}


@pytest.mark.parametrize("fault", sorted(FORMAT_FAULTS))
def test_format_faults_rebuilt(honest, fault):
    row, completion = honest
    broken = FORMAT_FAULTS[fault](completion)
    assert broken != completion
    verdict = RuleCritic(repair_with_gold=False).critique(row, broken)
    assert not verdict.passed
    assert {"format", "invalid_ref"} & set(verdict.kinds), verdict.kinds
    assert verified(row, verdict.revision), verdict.revision


def test_full_path_missing_its_middle_falls_back_to_trivial(hotpot_rows):
    row = hotpot_rows[1]
    full = oracle_completion(row, trivial=False)
    broken = full.replace(full[full.index("<|source_report_start|>"):full.index("<|draft_start|>")], "")
    verdict = RuleCritic(repair_with_gold=False).critique(row, broken)
    assert "format" in verdict.kinds
    assert parse_completion(verdict.revision).is_trivial
    assert verified(row, verdict.revision)


def test_wrong_language_line_is_repaired(honest):
    row, completion = honest
    verdict = RuleCritic(repair_with_gold=False).critique(row, completion.replace("English<|language_end|>",
                                                                                   "French<|language_end|>"))
    assert verdict.kinds == ["language_mismatch"]
    assert parse_completion(verdict.revision).language == "English"
    assert verified(row, verdict.revision)


def test_answer_in_another_language_needs_gold(honest):
    row, completion = honest
    french = completion.replace(completion[completion.index("<|answer_start|>") + 16:completion.index("<ref")],
                                "La réponse se trouve dans la source citée, comme le montre ce passage")
    assert "language_mismatch" in RuleCritic().critique(row, french).kinds
    assert RuleCritic(repair_with_gold=False).critique(row, french).revision is None
    assert verified(row, RuleCritic().critique(row, french).revision)


def test_wrong_refusal_and_missed_refusal(hotpot_rows):
    row = hotpot_rows[2]
    refusal = oracle_completion({**row, "answerable": False})
    verdict = RuleCritic().critique(row, refusal)
    assert "wrong_refusal" in verdict.kinds
    assert verified(row, verdict.revision)
    unanswerable = {**row, "answerable": False}
    verdict = RuleCritic().critique(unanswerable, oracle_completion(row))
    assert "missed_refusal" in verdict.kinds
    assert parse_completion(verdict.revision).is_refusal


def test_wrong_gold_answer(hotpot_rows):
    row = hotpot_rows[3]
    completion = oracle_completion(row)
    wrong = completion.replace(f"The answer is {row['answer']}.", "The answer is Zanzibar.")
    assert wrong != completion
    verdict = RuleCritic().critique(row, wrong)
    assert "wrong_answer" in verdict.kinds
    assert verdict.revision == completion
    assert RuleCritic(repair_with_gold=False).critique(row, wrong).revision is None


def test_issue_kinds_are_from_the_taxonomy():
    assert {"misquote", "wrong_source", "number_changed", "query_quote", "unsupported_claim",
            "self_contradiction", "language_mismatch", "format", "wrong_refusal", "missed_refusal",
            "wrong_answer", "critic_error"} <= set(FAILURE_KINDS)
    with pytest.raises(ValueError, match="unknown failure kind"):
        Issue("nonsense", "x")
    assert not Verdict.failing("c", [Issue("format", "x")]).passed
    assert Verdict.failing("c", [Issue("format", "x", severity="warning")]).passed


_PIECES = st.sampled_from([*SPECIAL_TOKENS, "<|end_of_text|>", '<ref name="<|source_id|>1">', '<ref name="9">',
                           "</ref>", "English", "Trivial", "Helsby", " runs between ", "(…)", "\n", "3"])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(_PIECES, st.text(max_size=12)), max_size=30))
def test_rule_critic_never_raises_and_revisions_parse(pieces):
    row = {"query": "Where does the A5117 end?", "answer": "Helsby",
           "sources": ["The A5117 is a road in Cheshire. It runs between Shotwick and Helsby.", "Other text."]}
    verdict = RuleCritic().critique(row, "".join(pieces))
    assert all(issue.kind in FAILURE_KINDS for issue in verdict.issues)
    if verdict.revision is not None:
        assert FORMAT.explain(verdict.revision, row)[0] == 1.0


RED_TEAM_REPAIRABLE = ("negation_elided", "stitched", "cut_word", "cut_number", "near_dump",
                       "fuzzy_negation", "generic_phrase", "tiny_refs")


def test_red_team_attacks_are_repaired_to_true_spans_that_the_rewards_verify():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import red_team

    critic = RuleCritic(repair_with_gold=False)
    verified: dict[str, list[bool]] = {}
    for case in red_team.cases(red_team.real_rows(6), mutations=0):
        if case.group != "all_bad" or case.kind not in RED_TEAM_REPAIRABLE:
            continue
        verdict = critic.critique(case.row, case.completion)
        assert not verdict.passed and verdict.revision is not None, (case.kind, verdict.feedback())
        repaired = CITATION.explain(verdict.revision, case.row)[0] == 1.0 and critic.critique(
            case.row, verdict.revision).passed
        verified.setdefault(case.kind, []).append(repaired)
    assert set(verified) == set(RED_TEAM_REPAIRABLE)
    assert {kind: all(results) for kind, results in verified.items()} == dict.fromkeys(RED_TEAM_REPAIRABLE, True)
