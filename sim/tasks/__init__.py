"""The arm's tasks, each a gymnasium environment."""
