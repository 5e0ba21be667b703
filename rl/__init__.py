"""GRPO and SFT training on TRL (accelerate launch rl/grpo.py, rl/sft.py) and the embedded-default pipeline."""
