"""VISSL's SwAV inference with our head: `swav_loss` + `seer_swav_head`.

VISSL's `infer_losses_config` sizes `LOSS.swav_loss` from the head's `num_clusters`
and `dims`, but first asserts that the head is named `swav_head` (or its FSDP twin),
so the stock loss refused our head with a bare AssertionError. `seer_swav_head` takes
the same arguments and gives the same outputs, and VISSL's SwAV hooks find its
prototypes under the same names: for the inference only, the head is shown to VISSL
under its stock name.
"""

import contextlib

from seer_plugins.models.seer_swav_head import HEAD_NAME

STOCK_LOSS = "swav_loss"
STOCK_HEAD = "swav_head"


@contextlib.contextmanager
def vissl_swav_inference_accepts_ours(config):
    """Inside the block, a `seer_swav_head` of a `swav_loss` config reads `swav_head`."""
    params = config.MODEL.HEAD.get("PARAMS", None) or []
    renamed = (
        config.LOSS.get("name") == STOCK_LOSS
        and len(params) == 1
        and params[0]
        and params[0][0] == HEAD_NAME
    )
    if renamed:
        params[0][0] = STOCK_HEAD
    try:
        yield
    finally:
        if renamed:
            params[0][0] = HEAD_NAME
