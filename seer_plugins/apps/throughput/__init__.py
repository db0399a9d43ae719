"""Throughput benchmark of one training step: our SEER setup against stock VISSL.

`setups` composes the two configs and builds model, loss and optimizer through
VISSL's and ClassyVision's builders; `measure` times the step and computes img/s,
peak memory and MFU. The entry script is `benchmarks/throughput.py`.
"""
