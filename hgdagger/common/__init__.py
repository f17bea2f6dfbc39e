"""The bottom layer, shared by every package: robot spec, driver and policy protocols, sources, the
wire messages, the record queue, small statistics. It imports nothing else of the project."""

from hgdagger.common.types import ChunkPolicy, Observation, PolicyInfo, RobotDriver, RobotSpec, Source

__all__ = ["ChunkPolicy", "Observation", "PolicyInfo", "RobotDriver", "RobotSpec", "Source"]
