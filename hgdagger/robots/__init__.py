"""Which robot a session drives: robot config files, the named robots, and the registry of driver
types that turns a config into a connected `RobotDriver`."""
