"""``clean_answer`` gives upstream's processed text (``processed["clean_answer"]`` of the
Pleias RAG library) exactly: ``[n]`` in place, quotes as written, each citation line ending in
a newline. ``upstream_clean_answer`` below restates upstream's documented behaviour (answer
section found by a non-greedy pattern and stripped; refs matched by its single-line pattern,
replaced one by one by a running count; the citations list appended when there was one)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from pleias_rl.data.format import clean_answer, format_ref, render_completion

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"
UPSTREAM_ANSWER = re.compile(r"<\|answer_start\|>(.*?)<\|answer_end\|>", re.DOTALL)
UPSTREAM_REF = re.compile(r'<ref name="(?:<\|source_id\|>)?(\d+)">(.*?)</ref>')


def upstream_clean_answer(raw: str) -> str:
    """Upstream's processed answer for a raw generation ("" when it has no answer section)."""
    found = UPSTREAM_ANSWER.search(raw)
    if found is None:
        return ""
    answer = found.group(1).strip()
    lines: list[str] = []

    def numbered(ref: re.Match[str]) -> str:
        lines.append(f'[{len(lines) + 1}] "{ref.group(2)}" [Source {ref.group(1)}]\n')
        return f"[{len(lines)}]"

    clean = UPSTREAM_REF.sub(numbered, answer)
    return clean + "\n\n**Citations**\n" + "".join(lines) if lines else answer


def trace(answer: str) -> str:
    return render_completion(language="English", query_analysis="Who founded it?", query_report="Trivial",
                             answer=answer)


REAL_SHAPES = [
    # paragraph breaks before refs, adjacent refs, quotes holding quotes, an id without <|source_id|>
    trace("Helsby is a village in Cheshire.\n\n" + format_ref(7, "Helsby is a village") + "\n\nThe A5117 "
          "runs there" + format_ref(2, "It runs between Shotwick and Helsby") + format_ref(3, "the A5117")
          + "."),
    trace('He called it "the best"' + format_ref(1, 'described as "the best" in 1999') + ' and left.'),
    trace('Yes, both are directors <ref name="4">an English film director</ref>, see below.\n'
          + format_ref(10, "Indian film and documentary Director")),
    trace("  No source states it.  "),
    "English<|language_end|><|query_report_start|>Trivial<|query_report_end|>",
]


def test_real_shapes_match_upstream():
    for raw in REAL_SHAPES:
        assert clean_answer(raw) == upstream_clean_answer(raw), raw


def test_shipped_sft_traces_match_upstream():
    rows = [json.loads(line) for line in (SAMPLES / "sft.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 153
    for row in rows:
        assert clean_answer(row["completion"]) == upstream_clean_answer(row["completion"])


def test_exact_text_of_a_multi_paragraph_answer():
    assert clean_answer(REAL_SHAPES[0]) == (
        "Helsby is a village in Cheshire.\n\n[1]\n\nThe A5117 runs there[2][3].\n\n**Citations**\n"
        '[1] "Helsby is a village" [Source 7]\n'
        '[2] "It runs between Shotwick and Helsby" [Source 2]\n'
        '[3] "the A5117" [Source 3]\n')


WORDS = st.text(alphabet=st.sampled_from('ab "\n.,'), max_size=12)
QUOTES = st.text(alphabet=st.sampled_from('ab "\'.,-'), min_size=1, max_size=12)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(WORDS, st.one_of(st.none(), st.tuples(st.integers(1, 20), QUOTES))), max_size=6),
       WORDS)
def test_any_well_formed_answer_matches_upstream(parts, tail):
    answer = "".join(text + (format_ref(*ref) if ref else "") for text, ref in parts) + tail
    raw = trace(answer)
    assert clean_answer(raw) == upstream_clean_answer(raw)
