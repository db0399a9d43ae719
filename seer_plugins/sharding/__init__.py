"""Sharded data parallelism with torch FSDP2 (`MODEL.SEER_FSDP`), for SEER-10B.

- :mod:`config`: the settings, refused at compose time when they cannot work;
- :mod:`wrap`: which modules are FSDP2 units, in which precision; `fully_shard`;
- :mod:`materialise`: a meta-device model's shards allocated and initialised;
- :mod:`weights_init`: `MODEL.WEIGHTS_INIT` into the shards from a memory-mapped file;
- :mod:`checkpoint`: folders of shards with `torch.distributed.checkpoint`;
- :mod:`dtensors`: helpers that treat plain and sharded tensors alike.

`seer_self_supervision_task` (:mod:`seer_plugins.trainer.task`) applies them.
"""
