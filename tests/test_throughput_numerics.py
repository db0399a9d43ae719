"""The benchmark's fast setup trains the same numbers as the plain one (float32, CPU).

Zero-padded groups (an odd group width, as SEER 1.3B's 373, padded to a multiple of
8) and channels_last change kernels and memory layout, not the function: the
first iterations' SwAV losses through the whole step (forward, loss, backward,
LARC SGD) must agree.
"""

import dataclasses

import pytest
import torch

from seer_plugins.apps.throughput.measure import time_steps
from seer_plugins.apps.throughput.setups import BenchOptions, build_ours
from seer_plugins.models.group_padding import SeerPaddedBottleneckBlock
from seer_plugins.models.regnet_params import RegNetParams

# Group width 11: every stage's 3x3 convolution gets padded (11 -> 16).
ODD_GROUPS = RegNetParams(6, 16, 20.0, 2.0, 11, stem_width=16)
# LARC's trust coefficient raised from SEER's 0.001 so that 3 steps move the loss
# by far more than float32 rounding (the comparison would be empty otherwise).
PLAIN = BenchOptions(
    arch=ODD_GROUPS,
    batch=4,
    crops=(32, 32, 16, 16, 16, 16),
    ours_overrides=("config.OPTIMIZER.larc_config.trust_coefficient=0.05",),
)
LEVERS = {
    "padded": {"pad_group_width_to": 8},
    "channels_last": {"channels_last": True},
    "padded + channels_last": {"pad_group_width_to": 8, "channels_last": True},
}


pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _train(options):
    """The 3 losses and the trained weights (published layout) of one setup."""
    setup = build_ours(options, seed=3)
    _, losses = time_steps(setup, options, iters=2, warmup=1)
    state = {k: v.contiguous() for k, v in setup.model.state_dict().items()}
    return setup, torch.tensor(losses), state


@pytest.fixture(scope="module")
def plain():
    return _train(PLAIN)


@pytest.mark.parametrize("lever", LEVERS.values(), ids=LEVERS.keys())
def test_fast_setup_gives_the_plain_losses(lever, plain):
    _, plain_losses, plain_state = plain
    setup, losses, state = _train(dataclasses.replace(PLAIN, **lever))
    if "pad_group_width_to" in lever:
        padded = [
            m for m in setup.model.modules() if isinstance(m, SeerPaddedBottleneckBlock)
        ]
        assert len(padded) == 6  # one per block
    assert len(losses) == len(plain_losses) == 3
    assert torch.isfinite(losses).all()
    # The steps moved the loss far more than the tolerance allows the setups to differ.
    assert (plain_losses[0] - plain_losses[-1]).abs() > 100 * 2e-5
    torch.testing.assert_close(losses, plain_losses, rtol=0, atol=2e-5)
    assert state.keys() == plain_state.keys()
    for key, value in state.items():
        torch.testing.assert_close(value, plain_state[key], rtol=1e-4, atol=1e-5)
