"""Offline RL on real and generated data: TD3+BC."""
