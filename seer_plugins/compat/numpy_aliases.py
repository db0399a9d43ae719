"""numpy 1.24 removed the aliases `np.float`, `np.int`, `np.bool` and `np.object`.

VISSL's meters (`mean_ap_meter`), collators (`cutmixup_collator`), SVM and retrieval
utilities, and ClassyVision's AutoAugment still use them at call time. The aliases
meant the Python builtins, so we restore exactly that.
"""

import builtins

import numpy as np

_REMOVED_ALIASES = ("float", "int", "bool", "object")


def apply() -> None:
    for name in _REMOVED_ALIASES:
        # numpy 2 answers a removed alias through a module __getattr__ that raises;
        # checking the module dict avoids triggering (and silencing) that path.
        if name not in vars(np):
            setattr(np, name, getattr(builtins, name))
