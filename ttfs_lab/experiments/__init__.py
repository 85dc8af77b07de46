"""Experiments built on the core (each a module with a run function and a CLI subcommand)."""
