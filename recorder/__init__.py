"""Crash-safe HDF5 episodes, the dataset reader, round aggregation, inspection."""
