"""Orchestration: one run, a capacity search, an A/B test; what each owns is in its name."""
