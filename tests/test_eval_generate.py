"""In-process generation: stop ids and step callbacks of TransformersGenerator on the tiny model."""

from __future__ import annotations

from pathlib import Path

from pleias_rl.evaluation.generate import GenerationSettings, TransformersGenerator
from rl_support import tiny_model_dir  # noqa: F401  (fixture)

PROMPT = "<|query_start|>Who?<|query_end|>\n<|language_start|>\n"


def test_generator_stops_on_the_pleias_eos_and_reports_each_step(tiny_model_dir: Path) -> None:
    steps: list[int] = []
    generator = TransformersGenerator(str(tiny_model_dir), GenerationSettings(max_new_tokens=6),
                                      on_step=steps.append)
    assert generator.local.tokenizer.convert_tokens_to_ids("<|end_of_text|>") in generator.local.stop_ids
    [generation] = generator.generate([PROMPT])
    assert steps == list(range(1, generation.completion_tokens + 1))
    assert generation.completion_tokens <= 6
