"""Data: the Pleias format (prompt building, parsing), the RAG example schema, dataset builders."""

from pleias_rl.data.format import (
    EOS_TOKEN, SPECIAL_TOKENS, Citation, ParsedCompletion, Section, build_prompt, clean_answer,
    format_ref, neutralise, parse_completion, render_completion, strip_refs,
)
from pleias_rl.data.schema import (
    RowError, completion_text, gold_answers, read_jsonl, source_texts, validate_row,
)

__all__ = [
    "EOS_TOKEN", "SPECIAL_TOKENS", "Citation", "ParsedCompletion", "Section", "build_prompt",
    "clean_answer", "format_ref", "neutralise", "parse_completion", "render_completion",
    "strip_refs", "RowError", "completion_text", "gold_answers", "read_jsonl", "source_texts",
    "validate_row",
]
