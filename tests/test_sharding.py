"""Sharding without a training run: the FSDP2 unit plan (SEER-10B on the meta device,
VISSL's own trunk and head), `MODEL.SEER_FSDP` refusals, the SwAV queue redealt over
another number of ranks, and the sharded `MODEL.WEIGHTS_INIT` loader. LARC on
sharded parameters: test_larc.py; training runs: test_sharding_e2e.py."""

from collections import Counter

import pytest
import torch
from launch_helpers import stock_swav_cpu
from vissl.models import build_model

from seer_plugins import compose
from seer_plugins.checkpoints.convert import vissl_checkpoint
from seer_plugins.checkpoints.sharded_load import load_weights_init
from seer_plugins.errors import ConfigError
from seer_plugins.losses.swav_criterion import SeerSwAVCriterion, reshard_queue
from seer_plugins.models.wrappers import unwrap
from seer_plugins.sharding.config import sharding_settings
from seer_plugins.sharding.wrap import plan_units

pytestmark = pytest.mark.filterwarnings("ignore:OPTIMIZER.use_larc")
ENABLED = "config.MODEL.SEER_FSDP.ENABLED=True"


def _model(overrides, device="meta"):
    config = compose(overrides)
    with torch.device(device):
        return config, unwrap(build_model(config.MODEL, config.OPTIMIZER))


def _assert_bottom_up_and_complete(model, units):
    """Every parameter in one unit; no unit contains a unit sharded after it."""
    assert sum(u.params for u in units) == sum(p.numel() for p in model.parameters())
    for i, unit in enumerate(units):
        inside = {id(m) for m in unit.module.modules()}
        assert not any(id(u.module) in inside for u in units[i + 1 :]), unit.name


def test_seer_10b_shards_by_default_blocks_and_big_layers_apart():
    config, model = _model(["config=pretrain/seer_10b"])
    settings = sharding_settings(config)
    # Gathered in the autocast dtype; BatchNorm then gets float32 units.
    assert settings.enabled and settings.param_dtype == torch.float16
    units = plan_units(model, settings)
    _assert_bottom_up_and_complete(model, units)
    assert Counter(u.role for u in units) == {
        "batchnorm": 86,  # 3 per block, 4 shortcut BNs, the stem's
        "layer": 55,  # res4/res5 convolutions and the head's first Linear
        "block": 27,
        "prototypes": 1,
        "head": 1,
        "root": 1,
    }
    by_name = {u.name: u for u in units}
    largest = max(units, key=lambda u: u.params)
    assert largest.name == "trunk._feature_blocks.res5.block4-0.f.c"
    assert largest.params == 28280 * 28280
    # res5[0] (1.84B parameters) keeps only its SE layers and BNs (0.16B).
    assert by_name["trunk._feature_blocks.res5.block4-0"].params < 2e8
    assert by_name["heads.0.prototypes0"].role == "prototypes"


def test_vissl_regnet_and_swav_head_units():
    config, model = _model([*stock_swav_cpu("/tmp"), ENABLED])
    assert config.TRAINER.TASK_NAME == "seer_self_supervision_task"  # switched
    units = plan_units(model, sharding_settings(config))
    _assert_bottom_up_and_complete(model, units)
    roles = Counter(u.role for u in units)
    assert roles == {
        "block": 13,
        "prototypes": 1,
        "head": 1,
        "root": 1,
    }  # fp32: no BN units


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        (["config.MODEL.SEER_FSDP.PARAM_DTYPE=half"], "SEER_FSDP.PARAM_DTYPE='half'"),
        (["++config.MODEL.SEER_FSDP.WRAP=blocks"], "SEER_FSDP.WRAP='blocks'"),
        (["config.MODEL.SEER_FSDP.AUTO_WRAP_THRESHOLD=-1"], "integer >= 0"),
        (["config.MODEL.SEER_FSDP.ENABLED=sometimes"], "True or False"),
        (
            [ENABLED, "config.MODEL.SEER_FSDP.PARAM_DTYPE=float16"],
            "SEER_AMP_DTYPE=float16",
        ),
        ([ENABLED, "config.OPTIMIZER.use_zero=True"], "OPTIMIZER.use_zero=True"),
        (
            [ENABLED, "config.MODEL.TRUNK.SEER_REGNET.pad_group_width_to=16"],
            "pad_group_width_to=16: padded blocks are not sharded yet",
        ),
        (
            [ENABLED, "config.TRAINER.TASK_NAME=self_supervision_fsdp_task"],
            "TRAINER.TASK_NAME='self_supervision_fsdp_task'",
        ),
    ],
)
def test_bad_seer_fsdp_settings_are_refused_at_compose_time(overrides, fragment):
    with pytest.raises(ConfigError) as error:
        compose(["config=pretrain/seer_tiny", *overrides])
    assert fragment in str(error.value)


def test_queue_is_redealt_newest_first_over_the_new_ranks():
    # 2 old ranks, 3 rows each: value = 10 * rank + age (0 = newest).
    queues = [torch.tensor([[[10.0 * r + age] for age in range(3)]]) for r in range(2)]

    def deal(filled, world_size, length):
        dealt = [
            reshard_queue(queues, filled, r, world_size, length)
            for r in range(world_size)
        ]
        return [q[0, :n, 0].tolist() for q, n in dealt]

    assert deal(3, 1, 6) == [[0, 10, 1, 11, 2, 12]]
    assert deal(3, 3, 2) == [[0, 11], [10, 2], [1, 12]]
    assert deal(2, 4, 2) == [[0], [10], [1], [11]]  # filled rows only


def test_criterion_state_of_two_ranks_loads_into_one():
    def criterion(length):
        return SeerSwAVCriterion(
            num_crops=2,
            crops_for_assign=[0],
            num_prototypes=[5],
            embedding_dim=3,
            local_queue_length=length,
        )

    old = [criterion(4).state_dict() for _ in range(2)]
    for rank, state in enumerate(old):
        state["queue_embeddings"].fill_(rank + 1)
        state["queue_filled"].fill_(3)
        state["num_iteration"].fill_(7)
    new = criterion(8)
    new.load_state_dict(new.reshard_state(old, rank=0, world_size=1))
    assert new._iteration == 7 and new._filled == 6
    assert new.queue_embeddings[0, :6, 0].tolist() == [1, 2, 1, 2, 1, 2]


def _weights_file(tmp_path, model, drop=0, name="weights.torch"):
    trunk = dict(list(model.trunk.state_dict().items())[drop:])
    path = tmp_path / name
    torch.save(vissl_checkpoint(trunk, model.heads.state_dict()), path)
    return path


def test_weights_init_loads_every_tensor(tmp_path):
    torch.manual_seed(0)
    _, source = _model(["config=pretrain/seer_tiny"], device="cpu")
    path = _weights_file(tmp_path, source)
    config, model = _model(
        ["config=pretrain/seer_tiny", f"config.MODEL.WEIGHTS_INIT.PARAMS_FILE={path}"],
        device="cpu",
    )
    loaded = load_weights_init(model, config)
    expected = source.state_dict()
    # VISSL's default SKIP_LAYERS leaves the BN counters.
    assert loaded == sum("num_batches_tracked" not in k for k in expected)
    for key, value in model.state_dict().items():
        if "num_batches_tracked" not in key:
            assert torch.equal(value, expected[key]), key


def test_weights_init_refuses_a_file_missing_trunk_tensors(tmp_path):
    _, source = _model(["config=pretrain/seer_tiny"], device="cpu")
    path = _weights_file(tmp_path, source, drop=10)
    config, model = _model(
        ["config=pretrain/seer_tiny", f"config.MODEL.WEIGHTS_INIT.PARAMS_FILE={path}"]
    )
    with pytest.raises(ConfigError) as error:
        load_weights_init(model, config)
    message = str(error.value)
    assert message.startswith(f"config.MODEL.WEIGHTS_INIT.PARAMS_FILE='{path}'")
    trunk = sum("num_batches_tracked" not in k for k in source.trunk.state_dict())
    dropped = list(source.trunk.state_dict())[:10]
    missing = sum("num_batches_tracked" not in k for k in dropped)
    # The one message of every WEIGHTS_INIT refusal (checks/weights_init.py).
    assert f"only {trunk - missing} of {trunk} trunk tensors load from it" in message
    assert "trunk._feature_blocks.conv1.stem.0.weight" in message  # a sample


def test_weights_init_refuses_an_unknown_state_dict_key(tmp_path):
    _, source = _model(["config=pretrain/seer_tiny"], device="cpu")
    path = _weights_file(tmp_path, source)
    config, model = _model(
        [
            "config=pretrain/seer_tiny",
            f"config.MODEL.WEIGHTS_INIT.PARAMS_FILE={path}",
            "config.MODEL.WEIGHTS_INIT.STATE_DICT_KEY_NAME=model_state",
        ]
    )
    with pytest.raises(ConfigError, match="STATE_DICT_KEY_NAME='model_state'"):
        load_weights_init(model, config)


def _sharded_checkpoint(tmp_path, model, drop=0):
    """A sharded run's checkpoint of `model`: VISSL's small file and its shards."""
    import torch.distributed.checkpoint as dcp

    from seer_plugins.checkpoints.sharded import REFERENCE_KEY

    state = dict(list(model.state_dict().items())[drop:])
    folder = "sharded/model_phase0"
    dcp.save({"model": state}, checkpoint_id=tmp_path / folder, no_dist=True)
    reference = {REFERENCE_KEY: {"folder": folder, "world_size": 2}}
    marker = tmp_path / "model_phase0.torch"
    torch.save({"classy_state_dict": {"base_model": reference}}, marker)
    return marker


def test_preflight_plans_a_sharded_checkpoint_from_its_shards(tmp_path):
    """Before any process starts: a sharded model may read a sharded run's
    checkpoint (planned from the shards' metadata); one missing trunk tensors, or
    an unsharded model given it, is refused in one line."""
    from seer_plugins.checks.weights_init import check_weights_init

    _, source = _model(["config=pretrain/seer_tiny"], device="cpu")
    marker = _sharded_checkpoint(tmp_path, source)
    init = f"config.MODEL.WEIGHTS_INIT.PARAMS_FILE={marker}"
    check_weights_init(compose(["config=pretrain/seer_tiny", init, ENABLED]))

    with pytest.raises(ConfigError) as error:
        check_weights_init(compose(["config=pretrain/seer_tiny", init]))
    message = str(error.value)
    assert "is a sharded run's checkpoint" in message
    assert f"seer convert {marker} OUT.torch --to vissl" in message

    (tmp_path / "sharded").rename(tmp_path / "complete")
    marker = _sharded_checkpoint(tmp_path, source, drop=5)
    with pytest.raises(ConfigError, match=r"only \d+ of \d+ trunk tensors load"):
        check_weights_init(compose(["config=pretrain/seer_tiny", init, ENABLED]))


def test_weights_init_reads_a_sharded_checkpoint(tmp_path):
    """The loader of a sharded benchmark (one process here, plain tensors: the
    same names and calls) takes every trunk tensor from the shards."""
    torch.manual_seed(0)
    _, source = _model(["config=pretrain/seer_tiny"], device="cpu")
    marker = _sharded_checkpoint(tmp_path, source)
    torch.manual_seed(1)
    config, model = _model(
        [
            "config=pretrain/seer_tiny",
            f"config.MODEL.WEIGHTS_INIT.PARAMS_FILE={marker}",
            ENABLED,
        ],
        device="cpu",
    )
    assert load_weights_init(model, config) > 0
    expected = source.trunk.state_dict()
    for key, value in model.trunk.state_dict().items():
        if "num_batches_tracked" not in key:  # VISSL's default SKIP_LAYERS
            assert torch.equal(value, expected[key]), key
