"""Small types shared by every package: robot spec, driver protocol, observation alias."""

from hgdagger.common.types import ChunkPolicy, Observation, PolicyInfo, RobotDriver, RobotSpec, Source

__all__ = ["ChunkPolicy", "Observation", "PolicyInfo", "RobotDriver", "RobotSpec", "Source"]
