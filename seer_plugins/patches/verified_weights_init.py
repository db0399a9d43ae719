"""VISSL's `MODEL.WEIGHTS_INIT` load, verified (:mod:`seer_plugins.checks.weights_init`).

The launcher's preflight already refuses a file that would leave trunk tensors
uninitialised; this patch makes the same check after VISSL's own load, in every
worker and for VISSL's own entry points, and refuses timm / torchvision state dicts
before VISSL's bare `assert` on the state-dict key name.
"""

import vissl.models.base_ssl_model as base_ssl_model

from seer_plugins.checks.weights_init import model_shapes, plan_load, verify

_vissl_init = base_ssl_model.init_model_from_consolidated_weights


def _init_and_verify(config, model, state_dict, *args, **kwargs):
    path = config.MODEL.WEIGHTS_INIT.get("PARAMS_FILE", "") or "<in memory>"
    # Planned first: a refused layout must not reach VISSL's asserts.
    plan = plan_load(config, state_dict, model_shapes(model), path)
    result = _vissl_init(config, model, state_dict, *args, **kwargs)
    verify(config, plan, path)
    return result


def install() -> None:
    """Wrap the loader `BaseSSLMultiInputOutputModel` calls. Idempotent."""
    base_ssl_model.init_model_from_consolidated_weights = _init_and_verify
