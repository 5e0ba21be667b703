"""Rewards: TRL-compatible, never-raising scores for Pleias-format completions.

>>> from pleias_rl.rewards import citation_reward, format_reward, language_reward  # doctest: +SKIP

Names resolve lazily (PEP 562) so ``import pleias_rl.rewards`` costs nothing until a reward is
used. To score several rewards on the same completions (a reward worker of another RL
framework), build one :class:`~pleias_rl.rewards.base.ScoredCompletion` per completion and call
each reward's ``explain_completion`` on it, or :func:`~pleias_rl.rewards.base.explain_all`: the
parse and the citation context are computed once.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "Reward": "pleias_rl.rewards.base", "ScoredBatch": "pleias_rl.rewards.base",
    "ScoredCompletion": "pleias_rl.rewards.base", "explain_all": "pleias_rl.rewards.base",
    "citation_reward": "pleias_rl.rewards.citation", "CitationReward": "pleias_rl.rewards.citation",
    "format_reward": "pleias_rl.rewards.format", "FormatReward": "pleias_rl.rewards.format",
    "language_reward": "pleias_rl.rewards.language", "LanguageReward": "pleias_rl.rewards.language",
    "answer_reward": "pleias_rl.rewards.gold", "AnswerReward": "pleias_rl.rewards.gold",
    "source_f1_reward": "pleias_rl.rewards.gold", "SourceF1Reward": "pleias_rl.rewards.gold",
    "refusal_reward": "pleias_rl.rewards.gold", "RefusalReward": "pleias_rl.rewards.gold",
    "REGISTRY": "pleias_rl.rewards.registry", "get_reward": "pleias_rl.rewards.registry",
    "build_rewards": "pleias_rl.rewards.registry", "WeightedReward": "pleias_rl.rewards.registry",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import the module that defines ``name`` on first use."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'pleias_rl.rewards' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
