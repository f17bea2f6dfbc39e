"""LeRobotDataset v3.0 out (``hgd-export --format lerobot``) and in (``hgd-train --data DIR``).

The format is LeRobot's (a folder of parquet tables, one MP4 per camera per file, JSON and parquet
metadata); the code is this project's own, written from LeRobot's public format so a lab's existing
datasets train here and what is recorded here trains there. ``layout`` maps our episode keys to
LeRobot features and back, ``video`` encodes and decodes the camera streams, ``writer`` and
``reader`` do the rest. Needs the ``lerobot`` extra (pyarrow, PyAV).
"""
