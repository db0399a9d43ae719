"""A process killed while VISSL writes a checkpoint leaves the previous one usable.

The kill is real: a child process writes one good checkpoint through VISSL's
`CheckpointWriter` path (`vissl.utils.checkpoint.save_checkpoint`), then starts a
second whose `torch.save` writes a few bytes and SIGKILLs the process.
"""

import os
import subprocess
import sys

import pytest
import torch
import vissl.utils.checkpoint as vissl_checkpoint
from launch_helpers import REPO
from vissl.utils.checkpoint import get_checkpoint_resume_files

import seer_plugins.patches.atomic_checkpoints as atomic

CHILD = """
import os, signal, sys
sys.path.insert(0, {repo!r})
import seer_plugins
import torch
import vissl.utils.checkpoint as vissl_checkpoint
import seer_plugins.patches.atomic_checkpoints as atomic

folder, first, second, which = sys.argv[1:5]
if which == "vissl":
    vissl_checkpoint.save_checkpoint = atomic._vissl_save_checkpoint
vissl_checkpoint.save_checkpoint(folder, {{"iteration": 4}}, first)

def dies_while_writing(obj, f, *args, **kwargs):
    f.write(b"PK\\x03\\x04 the first bytes of a zip archive")
    f.flush()
    os.kill(os.getpid(), signal.SIGKILL)

torch.save = dies_while_writing
vissl_checkpoint.save_checkpoint(folder, {{"iteration": 8}}, second)
"""


def _kill_during_second_save(folder, first, second, which="ours"):
    script = CHILD.format(repo=str(REPO))
    result = subprocess.run(
        [sys.executable, "-c", script, str(folder), first, second, which],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == -9, result.stderr[-3000:]


def _resume_file(folder):
    config = type("C", (), {})()
    config.CHECKPOINT = type("K", (), {"CHECKPOINT_ITER_FREQUENCY": 4})()
    return get_checkpoint_resume_files(str(folder), config)


def test_installed_into_vissl():
    assert vissl_checkpoint.save_checkpoint is atomic.save_checkpoint_atomically
    assert vissl_checkpoint.create_file_symlink is atomic.link_latest_atomically


def test_kill_during_a_new_checkpoint_keeps_the_previous_one(tmp_path):
    _kill_during_second_save(
        tmp_path, "model_iteration4.torch", "model_iteration8.torch"
    )
    assert not (tmp_path / "model_iteration8.torch").exists()
    # AUTO_RESUME lists the folder: it finds the good checkpoint and loads it
    assert _resume_file(tmp_path) == "model_iteration4.torch"
    assert torch.load(tmp_path / "model_iteration4.torch") == {"iteration": 4}
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")]
    assert len(leftovers) == 1 and leftovers[0].startswith(".model_iteration8.torch")


def test_kill_while_overwriting_keeps_the_old_content(tmp_path):
    _kill_during_second_save(tmp_path, "model_final.torch", "model_final.torch")
    assert torch.load(tmp_path / "model_final.torch") == {"iteration": 4}


def test_vissls_own_write_would_leave_a_broken_latest_checkpoint(tmp_path):
    """The failure this module exists for, reproduced with VISSL's function."""
    _kill_during_second_save(
        tmp_path, "model_iteration4.torch", "model_iteration8.torch", which="vissl"
    )
    assert _resume_file(tmp_path) == "model_iteration8.torch"
    with pytest.raises(RuntimeError, match="zip archive"):
        torch.load(tmp_path / "model_iteration8.torch")


def test_a_failed_save_removes_its_partial_file(tmp_path):
    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("cannot pickle this")

    with pytest.raises(RuntimeError, match="cannot pickle"):
        atomic.save_checkpoint_atomically(tmp_path, {"x": Unpicklable()}, "m.torch")
    assert list(tmp_path.iterdir()) == []


def test_latest_link_is_replaced_and_resolves_from_a_relative_folder(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    os.mkdir("run")
    for name in ("model_phase0.torch", "model_phase1.torch"):
        atomic.save_checkpoint_atomically("run", {"name": name}, name)
        atomic.link_latest_atomically(f"run/{name}", "run/checkpoint.torch")
    link = tmp_path / "run" / "checkpoint.torch"
    assert os.readlink(link) == "model_phase1.torch"
    assert torch.load(link) == {"name": "model_phase1.torch"}
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        "checkpoint.torch",
        "model_phase0.torch",
        "model_phase1.torch",
    ]
