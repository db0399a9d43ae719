"""Another VISSL project's configs with our plugins: its config folder on the search
path from any working directory (SEER_CONFIG_PATH, `seer train --config-dir`), and
the two ways that need no option: from the project's folder, and VISSL's own
launcher after `import seer_plugins`."""

import os
import sys

import pytest
from launch_helpers import REPO
from project_folder import CONFIG_NAME, make_project

import seer_plugins
from seer_plugins import cli
from seer_plugins.config.compose import CONFIG_PATH_ENV
from seer_plugins.errors import ConfigError

OURS_LAYOUT = "# @package _global_\nconfig:\n  SEED_VALUE: 12\n"


@pytest.fixture
def project(tmp_path):
    return make_project(tmp_path / "proj")


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


def test_config_path_finds_both_layouts_from_anywhere(
    project, tmp_path, elsewhere, monkeypatch
):
    ours = tmp_path / "ours_layout"
    (ours / "mine").mkdir(parents=True)
    (ours / "mine" / "probe.yaml").write_text(OURS_LAYOUT)
    value = os.pathsep.join([str(project / "configs"), str(ours)])
    monkeypatch.setenv(CONFIG_PATH_ENV, value)
    config = seer_plugins.compose([f"config={CONFIG_NAME}"])
    assert config.MODEL.TRUNK.NAME == "seer_regnet"
    assert config.OPTIMIZER.name == "seer_sgd"  # use_larc translated
    assert seer_plugins.compose(["config=mine/probe"]).SEED_VALUE == 12
    assert seer_plugins.compose(["config=pretrain/seer_tiny"])  # ours still there


def test_from_the_projects_folder_no_option_is_needed(project, monkeypatch):
    """VISSL's search path holds `file://configs` of the working directory."""
    monkeypatch.chdir(project)
    monkeypatch.setenv(CONFIG_PATH_ENV, "")  # restored after the test
    assert seer_plugins.compose([f"config={CONFIG_NAME}"]).MODEL.TRUNK.NAME == (
        "seer_regnet"
    )


def test_a_config_path_that_is_no_folder_is_refused(elsewhere, monkeypatch):
    monkeypatch.setenv(CONFIG_PATH_ENV, "no/such/folder")
    with pytest.raises(ConfigError, match="SEER_CONFIG_PATH='no/such/folder'"):
        seer_plugins.compose(["config=pretrain/seer_tiny"])


def test_config_dir_option_that_is_no_folder_is_one_error_line(elsewhere, capsys):
    assert cli.main(["train", "--config-dir", "nope", "config=x"]) == 2
    assert capsys.readouterr().err == (
        "error: --config-dir='nope': is not a folder; give a folder of YAML configs\n"
    )


def test_train_list_names_the_projects_configs(project, elsewhere, capsys, monkeypatch):
    monkeypatch.setenv(CONFIG_PATH_ENV, "")  # restored after the test
    assert cli.main(["train", "--list", "--config-dir", str(project / "configs")]) == 0
    out = capsys.readouterr().out
    assert (
        f"project configs in {project / 'configs' / 'config'}:\n  {CONFIG_NAME}" in out
    )


def _run(args, cwd, timeout=600):
    import subprocess

    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(REPO))
    env.pop(CONFIG_PATH_ENV, None)
    result = subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stdout[-4000:]
    return result.stdout


@pytest.mark.slow
def test_project_trains_from_another_folder_with_config_dir(
    project, tmp_path, elsewhere
):
    checkpoints = tmp_path / "run"
    _run(
        [
            "-m",
            "seer_plugins",
            "train",
            "--config-dir",
            os.path.relpath(project / "configs"),
            f"config={CONFIG_NAME}",
            f"config.CHECKPOINT.DIR={checkpoints}",
        ],
        cwd=elsewhere,
    )
    assert (checkpoints / "model_final_checkpoint_phase0.torch").is_file()


@pytest.mark.slow
def test_vissl_own_launcher_after_import_seer_plugins(project, tmp_path):
    """The project's entry script calls VISSL's `hydra_main`: our trunk trains with
    VISSL's head and loss, and `use_larc: True` no longer needs apex."""
    checkpoints = tmp_path / "run"
    output = _run(
        ["train.py", f"config={CONFIG_NAME}", f"config.CHECKPOINT.DIR={checkpoints}"],
        cwd=project,
    )
    assert "seer_plugins' apex-free LARC" in output
    assert (checkpoints / "model_final_checkpoint_phase0.torch").is_file()
    assert "name: seer_sgd" in (checkpoints / "train_config.yaml").read_text()
