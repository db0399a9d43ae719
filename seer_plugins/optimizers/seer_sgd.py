"""`OPTIMIZER.name: seer_sgd`: ClassyVision's SGD interface with apex-free LARC.

Takes the keys of VISSL's `sgd` block (`momentum`, `nesterov`, `weight_decay`,
`larc_config`). LARC is on when the config carries `seer_larc: True` (:data:`LARC_KEY`),
which the apex translation in :mod:`seer_plugins.patches.apex_config` sets from
`use_larc: True` (VISSL asserts apex whenever `use_larc` itself stays true).
Defaults: VISSL's `OPTIMIZER` defaults and the constructor's.
"""

from typing import Any

import torch
from classy_vision.optim import ClassyOptimizer, register_optimizer

from seer_plugins.optimizers.larc import LARCSGD

OPTIMIZER_NAME = "seer_sgd"
# The config key that switches LARC on for this optimizer.
LARC_KEY = "seer_larc"
_LARC_KEYS = {"clip", "trust_coefficient", "eps"}
_SGD_KEYS = ("lr", "momentum", "weight_decay", "nesterov")


@register_optimizer(OPTIMIZER_NAME)
class SeerSGD(ClassyOptimizer):
    def __init__(
        self,
        lr: float = 0.1,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        use_larc: bool = False,
        larc_config: dict[str, Any] = None,
    ):
        super().__init__()
        self._lr = lr
        self._momentum = momentum
        self._weight_decay = weight_decay
        self._nesterov = nesterov
        self._use_larc = use_larc
        self._larc_config = dict(larc_config or {})

    def prepare(self, param_groups):
        if self._use_larc:
            self.optimizer = LARCSGD(
                param_groups,
                lr=self._lr,
                momentum=self._momentum,
                weight_decay=self._weight_decay,
                nesterov=self._nesterov,
                **self._larc_config,
            )
        else:
            self.optimizer = torch.optim.SGD(
                param_groups,
                lr=self._lr,
                momentum=self._momentum,
                weight_decay=self._weight_decay,
                nesterov=self._nesterov,
            )

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "SeerSGD":
        # Ranges (momentum in [0, 1), weight decay >= 0) are checked at compose
        # time (seer_plugins.checks.value_types); torch's SGD checks them again.
        larc_config = dict(config.get("larc_config") or {})
        unknown = set(larc_config) - _LARC_KEYS
        if unknown:
            raise ValueError(
                f"OPTIMIZER.larc_config has unknown keys {sorted(unknown)}; "
                f"valid keys: {sorted(_LARC_KEYS)}."
            )
        given = {k: config[k] for k in _SGD_KEYS if config.get(k) is not None}
        return cls(
            **given,
            use_larc=bool(config.get(LARC_KEY) or config.get("use_larc")),
            larc_config=larc_config,
        )
