"""Thin command-line entry points, one per job a user runs."""
