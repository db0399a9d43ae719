"""VISSL's `MODEL.WEIGHTS_INIT` load: verified, and able to fill padded blocks.

VISSL's `init_model_from_consolidated_weights` (called by
`BaseSSLMultiInputOutputModel.init_model_from_weights_params_file`):

- trains from random weights, exit status 0, when the file's names match no trunk
  tensor: the load is planned first and verified after
  (:mod:`seer_plugins.checkpoints.load_plan`; the launcher's preflight runs the same
  plan before any process starts, this covers every worker and VISSL's own entry
  points), and timm / torchvision state dicts are refused before VISSL's bare
  `assert` on the state-dict key name;
- loads by copying into the tensors of `model.state_dict()` (`all_layers[name]
  .copy_(param)`), which writes into the model only because those tensors are views
  of its parameters. A padded block's state dict is a copy in the published layout
  (:mod:`seer_plugins.models.group_padding`), so for a model holding padded blocks
  VISSL's code runs against one state dict of the model, which is then loaded back
  with `load_state_dict` (which pads). Other models take VISSL's path untouched.
"""

import vissl.models.base_ssl_model as base_ssl_model
import vissl.utils.checkpoint as vissl_checkpoint

from seer_plugins.checkpoints.load_plan import model_shapes, plan_load, verify
from seer_plugins.models.group_padding import stores_padding

_vissl_init = vissl_checkpoint.init_model_from_consolidated_weights


class _PublishedStateDict:
    """`model` whose `state_dict()` always returns the same, published-layout dict."""

    def __init__(self, model, state_dict):
        self._model, self._state_dict = model, state_dict

    def state_dict(self, *args, **kwargs):
        return self._state_dict

    def __getattr__(self, name):
        return getattr(self._model, name)


def init_model_from_consolidated_weights(config, model, state_dict, *args, **kwargs):
    """VISSL's function of the same name: planned, padded-aware, verified."""
    path = config.MODEL.WEIGHTS_INIT.get("PARAMS_FILE", "") or "<in memory>"
    # Planned first: a refused layout must not reach VISSL's asserts.
    plan = plan_load(config, state_dict, model_shapes(model), path)
    if stores_padding(model):
        published = model.state_dict()
        _vissl_init(
            config, _PublishedStateDict(model, published), state_dict, *args, **kwargs
        )
        model.load_state_dict(published)
    else:
        _vissl_init(config, model, state_dict, *args, **kwargs)
    verify(config, plan, path)
    return model


def install() -> None:
    """Point VISSL's callers at the wrapper. Idempotent."""
    vissl_checkpoint.init_model_from_consolidated_weights = (
        init_model_from_consolidated_weights
    )
    # base_ssl_model imported the name itself: `init_model_from_weights_params_file`.
    base_ssl_model.init_model_from_consolidated_weights = (
        init_model_from_consolidated_weights
    )
