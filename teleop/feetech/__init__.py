"""Feetech STS-series servo arms (SO-100/SO-101 on STS3215): protocol, bus, drivers, emulator."""
