"""Sharded data parallelism with torch FSDP2 (`MODEL.SEER_FSDP`), for SEER-10B.

- :mod:`dtensors`: helpers that treat plain and sharded tensors alike.
"""
