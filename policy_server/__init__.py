"""The flow-matching chunked policy, its ZeroMQ server and client (torch-free, for the robot side),
and training (one path for hgd-train and the loop: `round_training`)."""
