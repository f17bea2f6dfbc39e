"""The teleoperation side: input devices, the robot runtime, real-arm drivers, the operator console."""
