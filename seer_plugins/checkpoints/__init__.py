"""Checkpoint formats, in one home: what a weights file is, how it is read, planned
into a model, converted and written.

- :mod:`atomic`: every file or folder a later run trusts is written atomically;
- :mod:`formats`: which RegNet layout a loaded checkpoint holds (VISSL, timm,
  torchvision) and whether it is a sharded run's reference to its folder of shards;
- :mod:`sharded`: the sharded runs' checkpoints (`torch.distributed.checkpoint`
  folders): written, loaded, read whole in one process;
- :mod:`load_plan`: `MODEL.WEIGHTS_INIT` planned tensor by tensor and verified;
- :mod:`sharded_load`: `MODEL.WEIGHTS_INIT` into a sharded model, each rank reading
  its own rows;
- :mod:`convert`, :mod:`convert_report`: RegNetY weights between VISSL's and timm's
  layouts, and what a conversion found.
"""
