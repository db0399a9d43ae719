"""Composition: our search path, VISSL's stock configs, plugin keys, clear errors."""

import os

import pytest
from hydra.errors import ConfigCompositionException

import seer_plugins
from seer_plugins.config import compose as seer_config
from seer_plugins.config.compose import ConfigNotFoundError, compose_with_args
from seer_plugins.errors import ConfigError
from seer_plugins.hooks.registry import known_hooks, seer_hook_generator

PROBE_YAML = """# @package _global_
config:
  DATA:
    TRAIN:
      BATCHSIZE_PER_REPLICA: 7
  HOOKS:
    PLUGINS: []
"""


@pytest.fixture
def probe_configs(tmp_path, monkeypatch):
    """A stand-in for configs/ holding configs/pretrain/probe.yaml."""
    (tmp_path / "pretrain").mkdir()
    (tmp_path / "pretrain" / "probe.yaml").write_text(PROBE_YAML)
    monkeypatch.setattr(seer_config, "configs_dir", lambda: tmp_path)
    return tmp_path


def test_stock_swav_config_composes():
    config = seer_plugins.compose(["config=pretrain/swav/swav_8node_resnet"])
    assert config.LOSS.name == "swav_loss"


def test_our_configs_folder_serves_the_config_group(probe_configs):
    config = seer_plugins.compose(["config=pretrain/probe"])
    assert config.DATA.TRAIN.BATCHSIZE_PER_REPLICA == 7


def test_composition_does_not_depend_on_the_working_directory(
    probe_configs, tmp_path_factory
):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    cwd = os.getcwd()
    try:
        os.chdir(elsewhere)
        config = seer_plugins.compose(["config=pretrain/probe"])
    finally:
        os.chdir(cwd)
    assert config.DATA.TRAIN.BATCHSIZE_PER_REPLICA == 7


def test_user_searchpath_entries_are_kept(probe_configs, tmp_path_factory):
    extra = tmp_path_factory.mktemp("extra")
    (extra / "config" / "mine").mkdir(parents=True)
    (extra / "config" / "mine" / "x.yaml").write_text(
        "# @package _global_\nconfig:\n  SEED_VALUE: 11\n"
    )
    config = seer_plugins.compose(
        ["config=mine/x", f"hydra.searchpath=[file://{extra}]"]
    )
    assert config.SEED_VALUE == 11
    # ... and ours is still there
    assert seer_plugins.compose(["config=pretrain/probe"]).DATA.TRAIN
    # stock configs resolve alongside
    assert seer_plugins.compose(["config=test/cpu_test/test_cpu_regnet_simclr"])


@pytest.fixture
def my_plugin_defaults(tmp_path, monkeypatch):
    """Another project's plugin registers its keys' defaults."""
    from seer_plugins.config import defaults

    monkeypatch.setattr(defaults, "_EXTRA_DEFAULTS", [])
    path = tmp_path / "my_plugin.yaml"
    path.write_text("config:\n  MY_PLUGIN_KEY:\n    value: 1\n")
    defaults.register_plugin_defaults(path)


def test_overrides_round_trip_into_the_config(my_plugin_defaults):
    config = seer_plugins.compose(
        [
            "config=test/cpu_test/test_cpu_regnet_simclr",
            "config.OPTIMIZER.num_epochs=3",
            "config.DATA.TRAIN.BATCHSIZE_PER_REPLICA=5",
            "++config.HOOKS.PLUGINS=[]",
            "++config.MY_PLUGIN_KEY.value=12",
        ]
    )
    assert config.OPTIMIZER.num_epochs == 3
    assert config.DATA.TRAIN.BATCHSIZE_PER_REPLICA == 5
    assert config.MY_PLUGIN_KEY.value == 12
    # a registered plugin key needs no `+`, like VISSL's
    assert (
        seer_plugins.compose(
            [
                "config=test/cpu_test/test_cpu_regnet_simclr",
                "config.MY_PLUGIN_KEY.value=3",
            ]
        ).MY_PLUGIN_KEY.value
        == 3
    )


@pytest.mark.parametrize(
    "override", ["++config.MY_PLUGIN_KEY.value=12", "+config.OPTIMIZER.weight_decy=0.1"]
)
def test_a_key_no_defaults_define_is_refused(override):
    with pytest.raises(ConfigError, match="no such key in VISSL's defaults"):
        seer_plugins.compose(["config=test/cpu_test/test_cpu_regnet_simclr", override])


def test_compose_returns_the_config_node_of_the_launcher_args():
    overrides = ["config=test/cpu_test/test_cpu_regnet_simclr"]
    args, config = compose_with_args(overrides)
    assert args.engine_name == "train"
    assert seer_plugins.compose(overrides).to_dict() == config.to_dict()


def test_plugin_defaults_fill_stock_configs():
    config = seer_plugins.compose(["config=test/cpu_test/test_cpu_regnet_simclr"])
    # HOOKS.CHECK_NAN (on by default) is served by our NaN guard.
    assert config.HOOKS.PLUGINS == ["seer_nan_guard"]


def test_plugin_keys_layer_like_vissl_keys(probe_configs):
    """Plugin default < config YAML < command line, and no `+` needed for plugin keys."""
    (probe_configs / "pretrain" / "probe_trunk.yaml").write_text(
        "# @package _global_\nconfig:\n  MODEL:\n    TRUNK:\n"
        "      SEER_REGNET:\n        preset: regnety_small\n"
    )
    default = seer_plugins.compose(["config=pretrain/probe"])
    from_yaml = seer_plugins.compose(["config=pretrain/probe_trunk"])
    from_cli = seer_plugins.compose(
        [
            "config=pretrain/probe_trunk",
            "config.MODEL.TRUNK.SEER_REGNET.preset=regnety_tiny",
        ]
    )
    assert default.MODEL.TRUNK.SEER_REGNET.preset == ""
    assert from_yaml.MODEL.TRUNK.SEER_REGNET.preset == "regnety_small"
    assert from_cli.MODEL.TRUNK.SEER_REGNET.preset == "regnety_tiny"


def test_new_key_without_plus_is_refused_by_struct_mode():
    with pytest.raises(ConfigCompositionException):
        seer_plugins.compose(
            ["config=test/cpu_test/test_cpu_regnet_simclr", "config.NOT_A_KEY=1"]
        )


def test_unknown_config_says_where_it_looked():
    with pytest.raises(ConfigNotFoundError) as error:
        seer_plugins.compose(["config=pretrain/swav/swav_8node_resnett"])
    message = str(error.value)
    assert "pretrain/swav/swav_8node_resnett.yaml (seer_plugins)" in message
    assert "VISSL's stock configs" in message
    assert "pretrain/swav/swav_8node_resnet" in message  # the close match


def test_missing_config_argument_is_explained():
    with pytest.raises(ConfigNotFoundError, match="pass config=NAME"):
        seer_plugins.compose(["config.SEED_VALUE=1"])


def test_unknown_plugin_hook_lists_the_known_ones():
    with pytest.raises(ValueError) as error:
        seer_plugins.compose(
            [
                "config=test/cpu_test/test_cpu_regnet_simclr",
                "++config.HOOKS.PLUGINS=[no_such_hook]",
            ]
        )
    assert "no_such_hook" in str(error.value)
    assert str(known_hooks()) in str(error.value)


def test_hook_generator_puts_vissl_defaults_first(tmp_path):
    from vissl.hooks import default_hook_generator

    # VISSL's log hook opens stdout.json in the checkpoint folder when built.
    config = seer_plugins.compose(
        [
            "config=test/cpu_test/test_cpu_regnet_simclr",
            f"config.CHECKPOINT.DIR={tmp_path}",
        ]
    )
    stock = [type(h) for h in default_hook_generator(config)]
    ours = [type(h) for h in seer_hook_generator(config)]
    assert ours[: len(stock)] == stock


def test_command_line_reports_config_errors_in_one_line(capsys):
    from seer_plugins.apps.launcher import cli

    rc = cli(["config=pretrain/seer_tiny", "config.DATA.TRAIN.BATCHSIZE_PER_REPLICA=0"])
    assert rc == 2
    assert capsys.readouterr().err.startswith(
        "error: config.DATA.TRAIN.BATCHSIZE_PER_REPLICA=0"
    )
