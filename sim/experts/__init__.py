"""Closed-loop scripted experts, one per task."""
