"""Rewards: TRL-compatible, never-raising scores for Pleias-format completions.

>>> from rewards import citation_reward, format_reward, language_reward  # doctest: +SKIP

Names resolve lazily (PEP 562) so ``import rewards`` costs nothing until a reward is used.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "Reward": "rewards.base",
    "citation_reward": "rewards.citation", "CitationReward": "rewards.citation",
    "format_reward": "rewards.format", "FormatReward": "rewards.format",
    "language_reward": "rewards.language", "LanguageReward": "rewards.language",
    "answer_reward": "rewards.gold", "AnswerReward": "rewards.gold",
    "source_f1_reward": "rewards.gold", "SourceF1Reward": "rewards.gold",
    "refusal_reward": "rewards.gold", "RefusalReward": "rewards.gold",
    "REGISTRY": "rewards.registry", "get_reward": "rewards.registry",
    "build_rewards": "rewards.registry", "WeightedReward": "rewards.registry",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import the module that defines ``name`` on first use."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'rewards' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
