"""Composing a config with seer_swav_loss infers its sizes and switches on its hooks."""

import pytest

from seer_plugins import compose
from seer_plugins.losses.swav_config import InconsistentConfigError

SWAV = [
    "config=test/integration_test/quick_swav",
    "config.DISTRIBUTED.NUM_PROC_PER_NODE=2",
    "config.DATA.TRAIN.BATCHSIZE_PER_REPLICA=16",
    "config.LOSS.name=seer_swav_loss",
]


def test_sizes_are_inferred_from_the_head_and_transforms(tmp_path):
    config = compose([*SWAV, f"config.CHECKPOINT.DIR={tmp_path}"])
    loss = config.LOSS.seer_swav_loss
    assert loss.num_crops == 6  # 2 x 224 + 4 x 96
    assert loss.num_prototypes == [3000]
    assert loss.embedding_dim == 128
    assert loss.output_dir == str(tmp_path)
    assert loss.queue.local_queue_length == 0
    for hook in (
        "seer_swav_queue",
        "seer_prototypes_normalize",
        "seer_prototypes_freeze",
    ):
        assert hook in config.HOOKS.PLUGINS


def test_seer_head_sizes_are_inferred():
    config = compose(
        [
            *SWAV,
            "config.MODEL.HEAD.PARAMS=[[seer_swav_head,{dims:[2048,512,64],num_clusters:[100,50]}]]",
        ]
    )
    assert config.LOSS.seer_swav_loss.num_prototypes == [100, 50]
    assert config.LOSS.seer_swav_loss.embedding_dim == 64


def test_stock_swav_block_switches_by_name():
    config = compose(
        [
            *SWAV,
            "++config.LOSS.seer_swav_loss={temperature:0.2,epsilon:0.03,num_iters:10,"
            "crops_for_assign:[0,1],queue:{queue_length:100,start_iter:5}}",
        ]
    )
    loss = config.LOSS.seer_swav_loss
    assert (loss.temperature, loss.epsilon, loss.num_iters) == (0.2, 0.03, 10)
    # Rounded down to a multiple of the global batch (2 x 16), as VISSL does.
    assert loss.queue.queue_length == 96
    assert loss.queue.local_queue_length == 48
    assert loss.queue.start_iter == 5


@pytest.mark.parametrize(
    "override, message",
    [
        (
            "++config.LOSS.seer_swav_loss.num_crops=2",
            r"num_crops=2: disagrees .* gives 6",
        ),
        (
            "++config.LOSS.seer_swav_loss.num_prototypes=[300]",
            r"num_prototypes=\[300\]: disagrees .*swav_head.* gives \[3000\]",
        ),
        (
            "++config.LOSS.seer_swav_loss.embedding_dim=256",
            r"embedding_dim=256: .* gives 128",
        ),
        (
            "++config.LOSS.seer_swav_loss.crops_for_assign=[0,7]",
            r"crops_for_assign=\[0, 7\]: must be .* \[0, 6\)",
        ),
        (
            "++config.LOSS.seer_swav_loss.queue={queue_length:64,local_queue_length:16}",
            r"local_queue_length=16: disagrees .* = 32",
        ),
    ],
)
def test_inconsistent_explicit_values_are_errors(override, message):
    with pytest.raises(InconsistentConfigError, match=message):
        compose([*SWAV, override])


def test_consistent_explicit_values_are_kept():
    config = compose([*SWAV, "++config.LOSS.seer_swav_loss.num_crops=6"])
    assert config.LOSS.seer_swav_loss.num_crops == 6
