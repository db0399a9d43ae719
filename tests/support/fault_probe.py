"""Entry script for fault tests: registers a hook that breaks training, then launches.

Registered at module top level so spawned workers have it (they re-import this
module). `SEER_TEST_FAULT=<kind>:<iteration>[:<rank>]` selects the fault, injected
when `task.iteration` equals the iteration on the given rank (default: every rank):

- `params`: the weights become NaN in `on_update` (a diverged step);
- `output`: the model output becomes NaN in `on_forward`;
- `raise`: a RuntimeError in `on_forward`.

    python fault_probe.py OVERRIDES...   (with ++config.HOOKS.PLUGINS=[seer_test_fault])
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch  # noqa: E402
from classy_vision.generic.distributed_util import get_rank  # noqa: E402

import seer_plugins  # noqa: E402,F401
from seer_plugins.apps.launcher import main  # noqa: E402
from seer_plugins.hooks.base import SeerHook  # noqa: E402
from seer_plugins.hooks.registry import register_hook  # noqa: E402


@register_hook("seer_test_fault")
class SeerTestFaultHook(SeerHook):
    def __init__(self, spec: str):
        super().__init__()
        kind, iteration, *rank = spec.split(":")
        self.kind, self.iteration = kind, int(iteration)
        self.rank = int(rank[0]) if rank else None

    @classmethod
    def from_config(cls, config):
        return cls(os.environ["SEER_TEST_FAULT"])

    def _due(self, task, kind) -> bool:
        return (
            self.kind == kind
            and task.train
            and task.iteration == self.iteration
            and self.rank in (None, get_rank())
        )

    def on_forward(self, task):
        if self._due(task, "output"):
            with torch.no_grad():
                for tensor in task.last_batch.model_output:
                    tensor.mul_(float("nan"))
        if self._due(task, "raise"):
            raise RuntimeError(f"injected fault on rank {get_rank()}")

    def on_update(self, task):
        if self._due(task, "params"):
            with torch.no_grad():
                next(task.base_model.parameters()).fill_(float("nan"))


if __name__ == "__main__":
    main(sys.argv[1:])
