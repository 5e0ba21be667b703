"""Supervised fine-tuning on TRL's SFTTrainer: warm-start targets and critic-loop corrections.

    accelerate launch [--config_file configs/accelerate/X.yaml] rl/sft.py \\
        --config configs/sft/RECIPE.yaml [--any_config_key value ...]

``dataset_name`` is a prompt-completion JSONL file (``id, prompt, completion``), a RAG JSONL
file whose rows carry a ``completion`` (the prompt is built with the Pleias builder), a
critic-loop output directory (its ``sft.jsonl`` is read), or a hub dataset with ``prompt`` and
``completion`` columns. The loss covers the completion only (TRL's ``completion_only_loss``,
on by default for prompt-completion data); the tokenizer's EOS is appended to each target, so
the trained model stops there.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pleias_rl.rl.recipe import RecipeArguments, load_policy, parse_recipe, train_and_save

if TYPE_CHECKING:
    from datasets import Dataset
    from trl import ModelConfig, SFTConfig, SFTTrainer


def load_dataset_for(script_args: RecipeArguments) -> "Dataset":
    """The SFT dataset named by the recipe (local file/dir first, else a hub dataset).

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "sft.jsonl").write_text('{"id": "a", "prompt": "P", "completion": "C"}\\n')
    >>> len(load_dataset_for(RecipeArguments(dataset_name=str(d))))
    1
    """
    from datasets import load_dataset

    from pleias_rl.rl.training_data import load_sft_dataset

    name = script_args.dataset_name
    if not name:
        raise ValueError("dataset_name is required (a JSONL file, a critic-loop dir or a hub dataset)")
    if Path(name).exists():
        return load_sft_dataset(name, script_args.max_samples)
    hub = load_dataset(name, script_args.dataset_config, split=script_args.dataset_train_split)
    if script_args.max_samples is not None:
        hub = hub.select(range(min(script_args.max_samples, len(hub))))
    return hub


def run(script_args: RecipeArguments, training_args: "SFTConfig",
        model_args: "ModelConfig", **trainer_kwargs: Any) -> "SFTTrainer":
    """Fine-tune and save the model; returns the trainer (state, log history).

    ``trainer_kwargs`` go to ``SFTTrainer`` (``callbacks``...).

    >>> run(*parse_args(["--config", "configs/sft/corrective.yaml", "--use_cpu", "true",
    ...                  "--bf16", "false"])).state.global_step  # doctest: +SKIP
    12
    """
    from trl import SFTTrainer, get_peft_config

    dataset = load_dataset_for(script_args)
    model, tokenizer = load_policy(model_args, script_args, training_args.trust_remote_code)
    trainer = SFTTrainer(model=model, processing_class=tokenizer, args=training_args,
                         train_dataset=dataset, peft_config=get_peft_config(model_args),
        **trainer_kwargs)
    train_and_save(trainer, training_args.resume_from_checkpoint, training_args.output_dir)
    return trainer


def parse_args(argv: list[str]) -> tuple[RecipeArguments, "SFTConfig", "ModelConfig"]:
    """Parse ``--config recipe.yaml`` and flags into our, TRL's and the model's arguments.

    >>> s, t, m = parse_args(["--config", "configs/sft/warmstart.yaml", "--max_steps", "1"])
    >>> t.max_steps, t.completion_only_loss is not False
    (1, True)
    """
    from trl import SFTConfig

    return parse_recipe(RecipeArguments, SFTConfig, argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``accelerate launch rl/sft.py``.

    >>> main(["--config", "configs/sft/warmstart.yaml"])  # doctest: +SKIP
    0
    """
    run(*parse_args(sys.argv[1:] if argv is None else argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
