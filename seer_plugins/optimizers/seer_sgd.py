"""`OPTIMIZER.name: seer_sgd`: ClassyVision's SGD interface with apex-free LARC.

Takes the keys of VISSL's `sgd` block (`momentum`, `nesterov`, `weight_decay`,
`larc_config`). LARC is on when the config carries `seer_larc: True`, which the apex
translation in :mod:`seer_plugins.compat.apex_config` sets from `use_larc: True`
(VISSL asserts apex whenever `use_larc` itself stays true).
"""

from typing import Any

import torch
from classy_vision.optim import ClassyOptimizer, register_optimizer

from seer_plugins.compat.apex_config import LARC_KEY
from seer_plugins.optimizers.larc import LARCSGD

_LARC_KEYS = {"clip", "trust_coefficient", "eps"}


@register_optimizer("seer_sgd")
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
        momentum = float(config.get("momentum", 0.0))
        if not 0.0 <= momentum < 1.0:
            raise ValueError(
                f"OPTIMIZER.momentum={momentum} is invalid: expected a value in [0, 1)."
            )
        larc_config = dict(config.get("larc_config") or {})
        unknown = set(larc_config) - _LARC_KEYS
        if unknown:
            raise ValueError(
                f"OPTIMIZER.larc_config has unknown keys {sorted(unknown)}; "
                f"valid keys: {sorted(_LARC_KEYS)}."
            )
        return cls(
            lr=config.get("lr", 0.1),
            momentum=momentum,
            weight_decay=float(config.get("weight_decay", 0.0)),
            nesterov=bool(config.get("nesterov", False)),
            use_larc=bool(config.get(LARC_KEY, False) or config.get("use_larc", False)),
            larc_config=larc_config,
        )
