"""Outputs: what a run shows and leaves behind (terminal view, run directory, reports)."""
