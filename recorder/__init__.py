"""Crash-safe HDF5 episodes and their recovery, the run folder, the episode reader, round
aggregation with sample-weighting presets, inspection, replay and export."""
