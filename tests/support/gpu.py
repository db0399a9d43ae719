"""GPU tests are marked `gpu` (benchmarks/gpu_check.sh runs `pytest -m gpu`) and
skip without CUDA: they never pass silently on a CPU machine."""

import pytest
import torch


def needs_gpu(test):
    skip = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
    return pytest.mark.gpu(skip(test))
