"""`seer <command>` / `python -m seer_plugins <command>`: every command answers
--help with its usage, refusals are one error line with exit status 2, and the
tools/*.py scripts are aliases of the commands."""

import subprocess
import sys

import pytest
from launch_helpers import LAUNCHER, REPO, run_script

import seer_plugins  # noqa: F401

# isort: split
from seer_plugins import cli


def test_python_m_seer_plugins_help_lists_every_command(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "seer_plugins", "--help"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(REPO), "PATH": ""},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("usage: seer <command>")
    listed = [
        line.split()[0] for line in result.stdout.splitlines() if line[:2] == "  "
    ]
    assert listed == list(cli.COMMANDS)


@pytest.mark.parametrize("command", sorted(cli.COMMANDS))
def test_every_command_has_help_with_usage(command, capsys):
    try:
        status = cli.main([command, "--help"])
    except SystemExit as exit:  # argparse's --help
        status = exit.code
    assert status == 0
    assert capsys.readouterr().out.startswith(f"usage: seer {command}")


def test_no_command_prints_usage_and_fails(capsys):
    assert cli.main([]) == 2
    assert "commands:" in capsys.readouterr().err


def test_a_misspelt_command_is_one_error_line(capsys):
    assert cli.main(["trian"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: command='trian': unknown command; valid: demo,")
    assert err.endswith("(did you mean 'train'?)\n")


def test_train_without_a_config_shows_usage_and_fails(capsys):
    assert cli.main(["train"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: seer train")
    assert err.splitlines()[-1].startswith(
        "error: config=<missing>: no config selected"
    )


def test_train_unknown_option_is_refused(capsys):
    assert cli.main(["train", "--lsit"]) == 2
    assert capsys.readouterr().err.startswith("error: option='--lsit': unknown;")


def test_train_list_names_configs_presets_and_engines(capsys):
    assert cli.main(["train", "--list"]) == 0
    out = capsys.readouterr().out
    for name in (
        "  pretrain/seer_1b\n",
        "  benchmark/knn/digits\n",
        "  test/cpu_test/test_cpu_regnet_simclr\n",  # VISSL's
        "  regnety_256gf\n",
        "  extract_features\n",
        "  seer_knn\n",
    ):
        assert name in out, name
    fragments = out.split("seer_plugins fragments")[1].split("\n\n")[0]
    assert "pretrain/seer/runtime/cpu" in fragments


def test_launcher_tool_help_prints_usage(tmp_path):
    rc, output = run_script(LAUNCHER, ["--help"], cwd=tmp_path, timeout=300)
    assert rc == 0 and output.startswith("usage: seer train"), output[-2000:]


def test_python_m_launcher_without_arguments_fails_loudly(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "seer_plugins.apps.launcher"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(REPO), "PATH": ""},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2
    assert "error: config=<missing>: no config selected" in result.stderr


def test_setup_installs_the_seer_console_script(tmp_path):
    subprocess.run(
        [sys.executable, "setup.py", "-q", "egg_info", "--egg-base", str(tmp_path)],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=120,
    )
    [entry_points] = tmp_path.glob("*.egg-info/entry_points.txt")
    assert "seer = seer_plugins.cli:main" in entry_points.read_text().splitlines()


def test_split_of_a_missing_folder_is_one_error_line(tmp_path, capsys):
    missing = tmp_path / "trian"
    assert cli.main(["split", str(missing), "--fraction", "0.1"]) == 2
    assert capsys.readouterr().err == (
        f"error: source='{missing}': does not exist; give an image folder (one "
        "subfolder per class), a file list, or tar shards (a folder of .tar, a "
        "quoted brace pattern, a shard list)\n"
    )


def test_init_checkpoint_writes_a_loadable_random_init(tmp_path, capsys):
    import torch

    out = tmp_path / "random.torch"
    assert cli.main(["init-checkpoint", str(out), "config=pretrain/seer_tiny"]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    model = torch.load(out, weights_only=False)["classy_state_dict"]["base_model"]
    assert model["model"]["trunk"] and model["model"]["heads"]


def test_sweep_with_a_missing_checkpoint_is_one_error_line(tmp_path, capsys):
    missing = tmp_path / "pretrain" / "checkpoint.torch"
    argv = ["sweep", "--config=benchmark/linear/digits", f"--checkpoint=seer={missing}"]
    assert cli.main([*argv, f"--out={tmp_path / 'out'}"]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"error: --checkpoint='seer={missing}': is not a file; give NAME=PATH of a "
        "pretraining checkpoint\n"
    )


def test_a_reader_that_leaves_the_pipe_gets_no_traceback(tmp_path):
    """`seer plan ... | head -1`: the command ends quietly with the shell's
    status for a closed pipe (141), not a BrokenPipeError traceback and not the
    exit status 1 that means "does not fit"."""
    with subprocess.Popen(
        [sys.executable, "-m", "seer_plugins", "plan", "config=pretrain/seer_tiny"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(REPO), "PATH": ""},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        process.stdout.close()  # the reader leaves before the first line
        stderr = process.stderr.read()
        assert process.wait(timeout=300) == cli.SIGPIPE_STATUS, stderr
    assert "Traceback" not in stderr
