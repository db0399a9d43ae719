"""Each compatibility shim, tested through the VISSL code path that needed it."""

import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
import torchvision

import seer_plugins
from seer_plugins.compat import pkg_resources_check
from seer_plugins.patches.apex_config import ApexTranslationWarning


def test_stack_versions():
    assert torch.__version__.startswith("2.14.1")
    assert torchvision.__version__.startswith("0.29.1")
    assert int(np.__version__.split(".")[0]) >= 2


def test_vissl_data_imports_with_kinetics_alias():
    """`import vissl.data` imports ClassyVision's Kinetics400 module."""
    import torchvision.datasets.kinetics as tv_kinetics
    import vissl.data

    assert tv_kinetics.Kinetics400 is tv_kinetics.Kinetics
    assert "synthetic" in vissl.data.DATASET_SOURCE_MAP


def test_numpy_float_alias_in_vissl_svm_precision_recall():
    """vissl/utils/svm_utils/evaluate.py builds weights with dtype=np.float."""
    from vissl.utils.svm_utils.evaluate import get_precision_recall

    targets = np.array([1, 0, 1, 0])
    scores = np.array([0.9, 0.8, 0.7, 0.1])
    _, _, _, ap = get_precision_recall(targets, scores)
    assert 0.0 < float(ap[0]) <= 1.0


def test_numpy_bool_alias_in_vissl_cutmixup_collator():
    """vissl/data/collators/cutmixup_collator.py draws per-sample flags as np.bool."""
    from vissl.data.collators.cutmixup_collator import Mixup

    mixer = Mixup(mixup_alpha=0.8, cutmix_alpha=1.0, mode="elem", num_classes=3)
    lam, use_cutmix = mixer._params_per_elem(4)
    assert lam.shape == (4,) and use_cutmix.dtype == bool


def test_numpy_int_alias_in_classy_vision_autoaugment():
    """ClassyVision's AutoAugment builds its posterize levels with np.int."""
    from classy_vision.dataset.transforms.autoaugment import ImagenetAutoAugment

    image = torchvision.transforms.functional.to_pil_image(
        torch.randint(0, 255, (3, 32, 32), dtype=torch.uint8)
    )
    assert ImagenetAutoAugment()(image).size == (32, 32)


def test_pkg_resources_available_for_vissl_misc():
    import vissl.utils.misc  # imports pkg_resources at the top

    assert vissl.utils.misc.is_apex_available() is False


def test_missing_pkg_resources_names_the_fix(monkeypatch):
    monkeypatch.setattr(pkg_resources_check.importlib.util, "find_spec", lambda _: None)
    with pytest.raises(ImportError, match="setuptools<81"):
        pkg_resources_check.apply()


def test_import_is_quiet():
    """Importing seer_plugins (and VISSL under it) prints no deprecation noise."""
    result = subprocess.run(
        [sys.executable, "-W", "default", "-c", "import seer_plugins, vissl.hooks"],
        capture_output=True,
        text=True,
        check=True,
    )
    for noise in ("pkg_resources", "_functional_video", "torch.jit.script"):
        assert noise not in result.stderr


def _compose_with_warnings(overrides):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        config = seer_plugins.compose(overrides)
    return config, [w for w in caught if w.category is ApexTranslationWarning]


def test_apex_settings_translate_with_one_warning_each():
    config, caught = _compose_with_warnings(
        [
            "config=pretrain/swav/swav_8node_resnet",
            "config.MODEL.AMP_PARAMS.USE_AMP=true",
            "config.MODEL.AMP_PARAMS.AMP_TYPE=apex",
        ]
    )
    assert config.MODEL.AMP_PARAMS.AMP_TYPE == "pytorch"
    assert config.MODEL.SYNC_BN_CONFIG.SYNC_BN_TYPE == "pytorch"
    assert config.OPTIMIZER.name == "seer_sgd"
    assert config.OPTIMIZER.use_larc is False  # VISSL's apex assertion keys on it
    assert config.OPTIMIZER.seer_larc is True
    messages = sorted(str(w.message).split("=")[0] for w in caught)
    assert messages == [
        "MODEL.AMP_PARAMS.AMP_TYPE",
        "MODEL.SYNC_BN_CONFIG.SYNC_BN_TYPE",
        "OPTIMIZER.use_larc",
    ]


def test_larc_builds_without_apex():
    """The optimizer VISSL builds for `use_larc: True` is our LARC SGD."""
    from classy_vision.optim import build_optimizer

    from seer_plugins.optimizers.larc import LARCSGD

    config, _ = _compose_with_warnings(["config=test/cpu_test/test_cpu_regnet_simclr"])
    optimizer = build_optimizer(config.OPTIMIZER)
    optimizer.set_param_groups([torch.nn.Parameter(torch.ones(3))])
    assert isinstance(optimizer.optimizer, LARCSGD)


def test_larc_on_an_optimizer_without_larc_is_refused():
    with pytest.raises(
        ValueError,
        match="OPTIMIZER.use_larc=True: needs NVIDIA apex with OPTIMIZER.name='adam'",
    ):
        seer_plugins.compose(
            [
                "config=test/cpu_test/test_cpu_regnet_simclr",
                "config.OPTIMIZER.name=adam",
            ]
        )


def test_vendored_fairscale_is_the_one_imported():
    """The vissl wheel vendors fairscale 0.3.7; it runs ZeRO (OSS) on torch 2.x."""
    import fairscale
    from fairscale.optim.oss import OSS  # noqa: F401

    assert fairscale.__version__ == "0.3.7"


def test_seer_configs_ask_for_the_apex_free_larc_without_a_warning():
    for name in ("pretrain/seer_tiny", "pretrain/seer_1b", "pretrain/demo_digits"):
        config, caught = _compose_with_warnings([f"config={name}"])
        assert config.OPTIMIZER.name == "seer_sgd" and config.OPTIMIZER.seer_larc
        assert caught == [], name
