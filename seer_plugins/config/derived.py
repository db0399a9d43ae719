"""Quantities derived from a composed config, each defined once."""


def used_splits(config):
    """The data splits a run reads: TRAIN, and TEST when `TEST_MODEL` is on."""
    yield "TRAIN"
    if config.get("TEST_MODEL", False):
        yield "TEST"


def world_size(config) -> int:
    """Training processes over all nodes."""
    return config.DISTRIBUTED.NUM_NODES * config.DISTRIBUTED.NUM_PROC_PER_NODE


def global_batch_size(config) -> int:
    """Images (not crops) one training iteration consumes over all processes."""
    return config.DATA.TRAIN.BATCHSIZE_PER_REPLICA * world_size(config)


def num_crops(transforms) -> int | None:
    """Samples per image a training transform list makes (multi-crop), or None.

    `total_num_crops` of VISSL's `ImgPilToMultiCrop`, or `num_times` of
    `ImgReplicatePil`; None when neither is there (one sample per image).
    """
    for transform in transforms or []:
        if "total_num_crops" in transform:
            return int(transform["total_num_crops"])
        if transform.get("name") == "ImgReplicatePil":
            return int(transform.get("num_times", 2))
    return None
