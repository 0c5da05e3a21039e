"""Integrations with RL libraries. Each module imports its library; import them explicitly
(``dreamenv.integrations.rllib`` needs the ``rllib`` extra)."""
