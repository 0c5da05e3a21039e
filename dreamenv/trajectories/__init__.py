"""Whole trajectories from a model: DyDiff generation with policy injection, and their truth."""
