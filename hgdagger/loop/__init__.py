"""The unattended HG-DAgger loop in the sim: demonstrations, training, supervised rollouts through the
real runtime and takeover gate, recording, aggregation, retraining, evaluation, report."""
