"""Evaluation tools: the simulated camera benchmark, noise scores with figures, PGap and benchmark submissions."""
