"""VISSL's own config path translates apex-only settings, as our launcher does.

A config built by VISSL's own code (its `tools/run_distributed_engines.py`, its
tests: `compose_hydra_configuration` then `convert_to_attrdict`, before
`SelfSupervisionTask.from_config` or `train_main`) never passes through
`seer_plugins.compose`, so `OPTIMIZER.use_larc: True` or `AMP_TYPE: apex` reached
VISSL's asserts ("Apex must be available to use LARC", "Apex is not available").
Every such config goes through `vissl.utils.hydra_config.infer_and_assert_hydra_config`
(`convert_to_attrdict` calls it by its module name): :func:`install` wraps it so
that it first runs :func:`seer_plugins.patches.apex_config.translate_apex_settings`
and lets VISSL's SwAV inference accept `seer_swav_head`. Our own compose calls VISSL's
inference through the same module attribute, so both paths run the same code.
"""

import functools

import vissl.utils.hydra_config as vissl_hydra_config

from seer_plugins.patches.apex_config import translate_apex_settings
from seer_plugins.patches.swav_head_inference import vissl_swav_inference_accepts_ours

_vissl_infer = vissl_hydra_config.infer_and_assert_hydra_config


@functools.wraps(_vissl_infer)
def infer_with_apex_translation(cfg):
    """VISSL's `infer_and_assert_hydra_config`, after the apex translation, with
    `seer_swav_head` accepted by its SwAV inference (:mod:`swav_head_inference`)."""
    translate_apex_settings(cfg)
    with vissl_swav_inference_accepts_ours(cfg):
        return _vissl_infer(cfg)


def install() -> None:
    """Point VISSL's config inference at the translating wrapper. Idempotent."""
    vissl_hydra_config.infer_and_assert_hydra_config = infer_with_apex_translation
