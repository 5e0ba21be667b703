"""GRPO on TRL's GRPOTrainer with the pleias-rl rewards.

    accelerate launch [--config_file configs/accelerate/X.yaml] rl/grpo.py \\
        --config configs/grpo/RECIPE.yaml [--any_config_key value ...]

Arguments: ours (:class:`GRPOScriptArguments`: dataset, rewards and their options), TRL's
``GRPOConfig`` (``reward_weights``, generation, vLLM, logging...) and ``ModelConfig`` (LoRA via
``use_peft``, ``dtype``, ``attn_implementation``). Every reward's mean is logged by TRL as
``rewards/<name>/mean``; the rewards' sub-scores (citation, format, language diagnostics) go
through TRL's ``log_metric`` as ``<name>/<metric>``, so ``report_to`` shows them all, with each
reward's ``<name>/internal_error_rate`` (a warning each time it rises). The rewards of a step
share one parse of each completion (:class:`pleias_rl.rewards.base.ScoredBatch`).

The rewards get the tokenizer: TRL decodes completions with ``skip_special_tokens=True``, which
would erase the Pleias tags, so each reward re-decodes ``completion_ids`` with the tags kept.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pleias_rl.rl.recipe import RecipeArguments, load_policy, parse_recipe, train_and_save

if TYPE_CHECKING:
    from pleias_rl.rewards.base import Reward
    from trl import GRPOConfig, GRPOTrainer, ModelConfig

@dataclass
class GRPOScriptArguments(RecipeArguments):
    """Our GRPO options on top of the common dataset/model ones.

    ``rewards`` is a ``pleias_rl.rewards.registry`` spec: names (``"citation,format"``), a list, or a
    mapping ``{name: weight}`` / ``{name: {weight: w, options: {...}}}`` (a JSON string on the
    command line); ``None`` means every registered reward with weight 1. The spec's weights
    become TRL's ``reward_weights`` unless the recipe sets ``reward_weights`` itself.

    >>> GRPOScriptArguments(rewards='{"format": 2.0}').spec()
    {'format': 2.0}
    """

    rewards: dict | str | None = field(default=None, metadata={
        "help": 'reward spec, e.g. \'{"citation": 2.0, "format": {"weight": 1, "options": {}}}\''})
    gate_rewards: bool = field(default=False, metadata={
        "help": "optimise the gated weighted mean (pleias_rl.rewards.registry.WeightedReward: citation and "
                "source_f1 count 0 while format < 0.5) instead of TRL's plain weighted sum, as "
                "one reward function; each component is logged from the same scores "
                "(weighted/<component> means, a completions-table column each)"})

    def spec(self) -> object:
        """The reward spec, decoded when it came as JSON on the command line."""
        value = self.rewards
        if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
            return json.loads(value)
        return value


def build_reward_funcs(script_args: GRPOScriptArguments, training_args: "GRPOConfig",
                       tokenizer: Any) -> list["Reward"]:
    """Instantiate the recipe's rewards, each with the tokenizer; set TRL's ``reward_weights``.

    >>> from types import SimpleNamespace; import tempfile
    >>> from pleias_rl.rl.tiny import build_tiny_tokenizer
    >>> targs = SimpleNamespace(reward_weights=None)
    >>> funcs = build_reward_funcs(GRPOScriptArguments(rewards={"format": 2.0, "citation": 1.0}),
    ...                            targs, build_tiny_tokenizer(tempfile.mkdtemp()))
    >>> [f.__name__ for f in funcs], targs.reward_weights, funcs[0].tokenizer is not None
    (['format', 'citation'], [2.0, 1.0], True)
    >>> targs = SimpleNamespace(reward_weights=None)
    >>> funcs = build_reward_funcs(GRPOScriptArguments(rewards={"format": 2.0, "citation": 1.0},
    ...                                                gate_rewards=True), targs, None)
    >>> [f.__name__ for f in funcs], targs.reward_weights, [c.name for c in funcs[0].components]
    (['weighted'], [1.0], ['format', 'citation'])
    """
    from pleias_rl.rewards.registry import WeightedReward, build_rewards

    if script_args.gate_rewards:  # one reward function; it logs its components
        funcs, weights = [WeightedReward(script_args.spec(), tokenizer=tokenizer)], [1.0]
    else:
        funcs, weights = build_rewards(script_args.spec(), tokenizer=tokenizer)
    if training_args.reward_weights is None:
        training_args.reward_weights = weights
    elif len(training_args.reward_weights) != len(funcs):
        raise ValueError(f"reward_weights has {len(training_args.reward_weights)} values "
                         f"for {len(funcs)} rewards")
    return funcs


def build_trainer(script_args: GRPOScriptArguments, training_args: "GRPOConfig",
                  model_args: "ModelConfig", **trainer_kwargs: Any) -> "GRPOTrainer":
    """Dataset, Pleias-ready policy, rewards and PEFT config assembled into a ``GRPOTrainer``.

    ``trainer_kwargs`` go to ``GRPOTrainer`` (``callbacks``, ``rollout_func``...).

    >>> trainer = build_trainer(*parse_args(["--config", "configs/grpo/smoke.yaml"]))  # doctest: +SKIP
    >>> [f.__name__ for f in trainer.reward_funcs]  # doctest: +SKIP
    ['citation', 'format', 'language', 'answer', 'source_f1', 'refusal']
    """
    from trl import GRPOTrainer, get_peft_config

    from pleias_rl.rl.training_data import load_rl_dataset

    if not script_args.dataset_name:
        raise ValueError("dataset_name is required (a JSONL file or a hub dataset)")
    dataset = load_rl_dataset(script_args.dataset_name, script_args.dataset_train_split,
                              script_args.dataset_config, script_args.max_samples)
    model, tokenizer = load_policy(model_args, script_args, training_args.trust_remote_code)
    reward_funcs = build_reward_funcs(script_args, training_args, tokenizer)
    return GRPOTrainer(
        model=model, processing_class=tokenizer, args=training_args, train_dataset=dataset,
        reward_funcs=reward_funcs, peft_config=get_peft_config(model_args), **trainer_kwargs)


def run(script_args: GRPOScriptArguments, training_args: "GRPOConfig",
        model_args: "ModelConfig", **trainer_kwargs: Any) -> "GRPOTrainer":
    """Train with GRPO and save the model; returns the trainer (state, log history).

    >>> run(*parse_args(["--config", "configs/grpo/smoke.yaml"])).state.global_step  # doctest: +SKIP
    2
    """
    trainer = build_trainer(script_args, training_args, model_args, **trainer_kwargs)
    train_and_save(trainer, training_args.resume_from_checkpoint, training_args.output_dir)
    return trainer


def parse_args(argv: list[str]) -> tuple[GRPOScriptArguments, "GRPOConfig", "ModelConfig"]:
    """Parse ``--config recipe.yaml`` and flags into our, TRL's and the model's arguments.

    >>> s, t, m = parse_args(["--config", "configs/grpo/smoke.yaml", "--max_steps", "3"])
    >>> t.max_steps, t.bf16, s.build_tiny_model
    (3, False, True)
    """
    from trl import GRPOConfig

    return parse_recipe(GRPOScriptArguments, GRPOConfig, argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``accelerate launch rl/grpo.py``.

    >>> main(["--config", "configs/grpo/smoke.yaml"])  # doctest: +SKIP
    0
    """
    run(*parse_args(sys.argv[1:] if argv is None else argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
