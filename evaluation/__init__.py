"""Evaluation: ``pleias-rl eval`` measures a model or a generations file as the model report does."""
