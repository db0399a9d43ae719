"""Sharded data parallelism with torch FSDP2 (`MODEL.SEER_FSDP`), for SEER-10B.

- :mod:`config`: the settings, one line per bad value;
- :mod:`wrap`: which modules are FSDP2 units, in which precision; `fully_shard`;
- :mod:`materialise`: a meta-device model's shards allocated and initialised;
- :mod:`dtensors`: helpers that treat plain and sharded tensors alike.

`seer_self_supervision_task` (:mod:`seer_plugins.trainer.task`) applies them; the
sharded checkpoints and `MODEL.WEIGHTS_INIT` into shards are checkpoint formats
(:mod:`seer_plugins.checkpoints.sharded`, :mod:`seer_plugins.checkpoints.sharded_load`);
what cannot run sharded is refused by :mod:`seer_plugins.checks.sharding_config`.
"""
