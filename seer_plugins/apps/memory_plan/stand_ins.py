"""What a simulated training job runs on in place of what it cannot have
(`seer plan --simulate`, :mod:`.simulate`): data, the training set, values."""

from collections.abc import Iterator

import torch
from torch.utils._python_dispatch import TorchDispatchMode


class HostReadsAsZero(TorchDispatchMode):
    """`.item()` and kin on a fake tensor: 0 (False) instead of an error."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten._local_scalar_dense.default:
            dtype = args[0].dtype
            if dtype == torch.bool:
                return False
            return 0.0 if dtype.is_floating_point or dtype.is_complex else 0
        return func(*args, **(kwargs or {}))


class Batches:
    """The data iterator's stand-in: VISSL's collated multi-crop batch, made when
    asked for (inside the step, so it is tracked as the loader's would be)."""

    def __init__(self, batch: int, crops: list[int], steps: int):
        self.batch, self.crops, self.steps = batch, crops, steps

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[dict]:
        return self

    def __next__(self) -> dict:
        b = self.batch
        return {
            "data": [[torch.randn(b, 3, s, s) for s in self.crops]],
            "label": [torch.zeros(b, dtype=torch.long)],
            "data_valid": [torch.ones(b)],
            "data_idx": [torch.arange(b)],
        }


class GlobalBatch:
    """What the train step asks of the training set: the global batch size."""

    def __init__(self, size: int):
        self.size = size

    def get_global_batchsize(self) -> int:
        return self.size
