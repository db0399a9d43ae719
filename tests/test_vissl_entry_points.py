"""VISSL's own entry points after `import seer_plugins` get our apex translations.

A config built through VISSL's path (`compose_hydra_configuration` +
`convert_to_attrdict`, as its tests and its launcher do; not `seer_plugins.compose`)
used to reach "Apex must be available to use LARC" when the task was built
(seer_plugins.patches.vissl_inference)."""

import pytest
from classy_vision.generic.distributed_util import set_cpu_device

import seer_plugins  # noqa: F401  first: shims, plugins, patches

# isort: split
import vissl.utils.hydra_config as vissl_hydra_config
from vissl.trainer.train_task import SelfSupervisionTask
from vissl.utils.hydra_config import compose_hydra_configuration, convert_to_attrdict

from seer_plugins.patches import vissl_inference
from seer_plugins.patches.apex_config import ApexTranslationWarning

SIMCLR = "config=test/cpu_test/test_cpu_regnet_simclr"


def _vissl_config(tmp_path, *overrides):
    cfg = compose_hydra_configuration(
        [SIMCLR, f"config.CHECKPOINT.DIR={tmp_path}", *overrides]
    )
    return convert_to_attrdict(cfg, dump_config=False)[1]


def _prepared_task(config):
    set_cpu_device()  # what VISSL's trainer does on CPU before building the task
    task = SelfSupervisionTask.from_config(config)
    task.prepare()
    return task


def test_stock_cpu_test_config_builds_through_vissl_path(tmp_path):
    with pytest.warns(ApexTranslationWarning, match="use_larc"):
        config = _vissl_config(tmp_path)
    assert config.OPTIMIZER.name == "seer_sgd" and config.OPTIMIZER.seer_larc
    assert not config.OPTIMIZER.use_larc
    task = _prepared_task(config)
    assert type(task.optimizer).__name__ == "SeerSGD"


def test_without_the_patch_vissl_asserts_apex(tmp_path, monkeypatch):
    """The control: VISSL's own inference leaves use_larc for its apex assert."""
    monkeypatch.setattr(
        vissl_hydra_config,
        "infer_and_assert_hydra_config",
        vissl_inference._vissl_infer,
    )
    config = _vissl_config(tmp_path)
    assert config.OPTIMIZER.name == "sgd" and config.OPTIMIZER.use_larc
    with pytest.raises(AssertionError, match="Apex must be available to use LARC"):
        _prepared_task(config)


def test_apex_amp_and_sync_bn_are_translated_on_vissl_path(tmp_path):
    with pytest.warns(ApexTranslationWarning):
        config = _vissl_config(
            tmp_path,
            "config.MODEL.AMP_PARAMS.USE_AMP=true",
            "config.MODEL.AMP_PARAMS.AMP_TYPE=apex",
            "config.MODEL.SYNC_BN_CONFIG.SYNC_BN_TYPE=apex",
        )
    assert config.MODEL.AMP_PARAMS.AMP_TYPE == "pytorch"
    assert config.MODEL.SYNC_BN_CONFIG.SYNC_BN_TYPE == "pytorch"
