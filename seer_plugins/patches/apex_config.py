"""Translate config values that need NVIDIA apex into their torch / seer_plugins twins.

apex is not on PyPI (the PyPI package named `apex` is an unrelated web toolkit), so a
stock VISSL config that asks for it would assert or crash. We rewrite the composed
config once, before VISSL's own inference, and say so with one warning per key.
"""

import warnings

from seer_plugins.errors import ConfigError
from seer_plugins.optimizers.seer_sgd import LARC_KEY, OPTIMIZER_NAME

# The LARC wrapper lives in our optimizer; VISSL's TrainTask asserts apex whenever
# `use_larc` is true for anything but `sgd_fsdp`, so the request moves to its key.
LARC_OPTIMIZERS = {"sgd": OPTIMIZER_NAME, OPTIMIZER_NAME: OPTIMIZER_NAME}


# MODEL.<section>: (its on switch, the key naming apex, the torch twin `pytorch` is).
TORCH_TWINS = (
    ("AMP_PARAMS", "USE_AMP", "AMP_TYPE", "torch AMP"),
    (
        "SYNC_BN_CONFIG",
        "CONVERT_BN_TO_SYNC_BN",
        "SYNC_BN_TYPE",
        "torch.nn.SyncBatchNorm",
    ),
)


class ApexTranslationWarning(UserWarning):
    """A config value that needs apex was replaced by its apex-free equivalent."""


def translate_apex_settings(config) -> None:
    """Rewrite apex-only settings of a composed VISSL config (an AttrDict) in place."""
    for section, switch, key, twin in TORCH_TWINS:
        settings = config.MODEL[section]
        if settings[switch] and settings[key] == "apex":
            warnings.warn(
                f"MODEL.{section}.{key}=apex needs NVIDIA apex; using {twin} "
                f"({key}=pytorch) instead.",
                ApexTranslationWarning,
                stacklevel=2,
            )
            settings[key] = "pytorch"

    optimizer = config.OPTIMIZER
    if optimizer.get("use_larc", False) and optimizer.name != "sgd_fsdp":
        if optimizer.name not in LARC_OPTIMIZERS:
            raise ConfigError(
                "config.OPTIMIZER.use_larc",
                True,
                f"needs NVIDIA apex with OPTIMIZER.name={optimizer.name!r}",
                f"LARC without apex is available for {sorted(LARC_OPTIMIZERS)} "
                "(and VISSL's own sgd_fsdp)",
            )
        if optimizer.name == "sgd":
            warnings.warn(
                "OPTIMIZER.use_larc=True with OPTIMIZER.name=sgd needs NVIDIA apex; "
                "using seer_plugins' apex-free LARC (OPTIMIZER.name=seer_sgd).",
                ApexTranslationWarning,
                stacklevel=2,
            )
        optimizer.name = LARC_OPTIMIZERS[optimizer.name]
        optimizer.use_larc = False
        optimizer[LARC_KEY] = True
