"""`MODEL.WEIGHTS_INIT` into a trunk with padded groups (`pad_group_width_to`).

VISSL's `init_model_from_consolidated_weights` loads a weights file by copying
into the tensors of `model.state_dict()`: `all_layers[name].copy_(param)`, which
writes into the model only because those tensors are views of its parameters. A
padded block's state dict is a copy in the published layout
(seer_plugins/models/group_padding.py), so those copies would be written and lost.

:func:`install` wraps the function: for a model holding padded blocks, VISSL's code
runs as before against one state dict of the model, and that state dict, now holding
the file's weights, is loaded back with `load_state_dict` (which pads). Other models
take VISSL's path untouched.
"""

import vissl.models.base_ssl_model as base_ssl_model
import vissl.utils.checkpoint as vissl_checkpoint

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
    """VISSL's function of the same name, also for models with padded blocks."""
    if not stores_padding(model):
        return _vissl_init(config, model, state_dict, *args, **kwargs)
    published = model.state_dict()
    _vissl_init(
        config, _PublishedStateDict(model, published), state_dict, *args, **kwargs
    )
    model.load_state_dict(published)
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
