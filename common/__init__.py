"""Small types shared by every package: robot spec, driver protocol, observation alias."""

from common.types import Observation, RobotDriver, RobotSpec, Source

__all__ = ["Observation", "RobotDriver", "RobotSpec", "Source"]
