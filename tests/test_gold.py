"""pleias_rl.rewards.gold: answer match, source F1 and refusal, with the known hacks priced in."""

from __future__ import annotations

import pytest

from pleias_rl.data.format import format_ref, render_completion
from pleias_rl.rewards.gold import (
    answer_match, answer_reward, answer_tokens, enumeration_size, refusal_reward, source_f1_reward,
)


def output(answer: str, query_report: str = "Trivial", source_report: str | None = None) -> str:
    return render_completion(language="English", query_analysis="x", query_report=query_report,
                             answer=answer, source_report=source_report)


def test_normalisation():
    assert answer_tokens("The  Étoile-du-Nord!") == ["etoile", "du", "nord"]
    assert answer_tokens("“New York” City") == ["new", "york", "city"]


@pytest.mark.parametrize(("answer", "gold", "expected"), [
    ("The village is Helsby.", "Helsby", 1.0),
    ("It was in New York City.", "new york", 1.0),
    ("It is Chester.", "Helsby", 0.0),
    ("Yes, both are American.", "yes", 1.0),
    ("No.", "yes", 0.0),
    ("Yes or no, hard to say.", "yes", 0.0),
])
def test_answer_match(answer, gold, expected):
    assert answer_match(answer, gold)[0] == expected


def test_partial_overlap_gets_token_f1():
    score, detail = answer_match("Lilu is a demon.", "a Mesopotamian demon")
    # tokens [lilu, is, demon] vs [mesopotamian, demon] (articles dropped): P=1/3, R=1/2
    assert score == detail["f1"] == pytest.approx(0.4)


def test_listing_candidates_does_not_earn_full_credit():
    honest = answer_match("The village is Helsby.", "Helsby")[0]
    hedged = answer_match("It is Helsby, Frodsham, Chester, Runcorn or Widnes.", "Helsby")[0]
    many = answer_match(", ".join(["Ann", "Bob", "Cy", "Dee", "Eve", "Fay", "Helsby", "Ike", "Jo", "Kim"]),
                        "Helsby")[0]
    assert honest == 1.0 and hedged == pytest.approx(0.4) and many == pytest.approx(0.2)
    assert enumeration_size("Helsby, a village in Cheshire, is small.", ["helsby"]) == 1


def test_answer_reward_aliases_refs_and_not_applicable():
    quote = format_ref(1, "Frodsham is nearby")
    completions = [output("It is Helsby village" + quote + "."), output("Frodsham" + quote + "."),
                   output("Helsby."), output("Helsby."), "no structure at all"]
    scores = answer_reward(completions=completions,
                           answer=[["Chester", "Helsby"], "Helsby", None, "Helsby", "Helsby"],
                           answerable=[True, True, True, False, True])
    assert scores == [1.0, 0.0, None, None, 0.0]


def test_source_f1():
    def cite(ids):
        return output("Claim" + "".join(format_ref(i, "q") for i in ids) + ".")
    scores = source_f1_reward(
        completions=[cite([1, 2]), cite([1]), cite(range(1, 11)), cite([3]), cite([1]), cite([1])],
        supporting_ids=[[1, 2], [1, 2], [1, 2], [1, 2], None, []])
    assert scores == [1.0, pytest.approx(2 / 3, abs=1e-6), pytest.approx(1 / 3, abs=1e-6), 0.0, None, None]


def test_refusal():
    refusals = [output("I cannot answer this from the sources."),
                output("Les sources ne mentionnent pas cette personne."),
                output("Unclear question.", query_report="Unclear"),
                output("x", query_report="Answerable", source_report="Infeasible")]
    answer = output("It is Helsby.")
    scores = refusal_reward(completions=refusals + [answer, answer, refusals[0]],
                            answerable=[False] * 4 + [True, False, None])
    assert scores == [1.0, 1.0, 1.0, 1.0, 1.0, 0.0, None]
