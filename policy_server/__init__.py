"""The flow-matching chunked policy, its ZeroMQ server and client, training and rounds."""
