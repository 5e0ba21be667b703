"""Critic loop: deterministic and LLM critics, revision, corrective SFT and preference data."""
