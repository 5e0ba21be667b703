"""Critic loop: deterministic and LLM critics, revision, corrective SFT and preference data.

- :mod:`pleias_rl.critics.base`: ``Critic``, ``Verdict``, ``Issue`` and the failure taxonomy ``FAILURE_KINDS``.
- :mod:`pleias_rl.critics.rules`: ``RuleCritic``, deterministic checks on the rewards' diagnostics, with repairs.
- :mod:`pleias_rl.critics.llm`: ``LLMCritic``, a stronger model judging in strict JSON.
- :mod:`pleias_rl.critics.backends`: ``LLMBackend`` (``complete``/``complete_many``/``check``),
  ``OpenAIBackend`` (any OpenAI-compatible server), ``TransformersBackend`` (in process),
  ``make_backend``, and the errors ``BackendError``/``BackendUnavailable``/``BackendTimeout``/
  ``BudgetExhausted``.
- :mod:`pleias_rl.critics.loop`: ``CritiqueLoop``, ``Policy``, ``LoopSettings``.
- :mod:`pleias_rl.critics.output`, :mod:`pleias_rl.critics.report`, :mod:`pleias_rl.critics.cli`: ``pleias-rl critique``.
"""
