"""A run folder holds one run: its fingerprint, its lock, its refusals (unit level).

Through the launcher: tests/test_run_identity_e2e.py.
"""

import json
import os
import time
from pathlib import Path

import pytest

from seer_plugins.config.compose import compose
from seer_plugins.errors import ConfigError
from seer_plugins.runs import fingerprint as fp
from seer_plugins.runs import run_folder

TINY = ["config=pretrain/seer_tiny", "config.OPTIMIZER.num_epochs=1"]


def _config(folder, *overrides):
    return compose([*TINY, f"config.CHECKPOINT.DIR={folder}", *overrides])


def test_what_cannot_change_a_result_is_not_in_the_fingerprint(tmp_path):
    base = fp.fingerprint(_config(tmp_path / "a"))
    other = fp.fingerprint(
        _config(
            tmp_path / "b",
            "config.LOG_FREQUENCY=7",
            "config.CHECKPOINT.CHECKPOINT_FREQUENCY=3",
            "config.DATA.NUM_DATALOADER_WORKERS=3",
        )
    )
    assert fp.differences(base, other) == []
    seeded = fp.fingerprint(_config(tmp_path / "a", "config.SEED_VALUE=5"))
    # The key a user sets comes first; VISSL's derived seed after it.
    assert [d[0] for d in fp.differences(base, seeded)] == [
        "SEED_VALUE",
        "MODEL._MODEL_INIT_SEED",
    ]


def test_a_folder_is_its_files(tmp_path):
    data = tmp_path / "data" / "cat"
    data.mkdir(parents=True)
    (data / "1.png").write_bytes(b"x" * 10)
    before = fp.folder_manifest(tmp_path / "data")
    assert "1 files" in before
    assert fp.folder_manifest(tmp_path / "data") == before  # stable
    (data / "2.png").write_bytes(b"y")
    added = fp.folder_manifest(tmp_path / "data")
    assert "2 files" in added
    (data / "2.png").unlink()
    (data / "1.png").write_bytes(b"x" * 11)
    assert fp.folder_manifest(tmp_path / "data") not in (before, added)


def test_a_weights_file_is_what_its_link_points_to(tmp_path):
    (tmp_path / "a.torch").write_bytes(b"a" * 100)
    (tmp_path / "b.torch").write_bytes(b"b" * 100)
    link = tmp_path / "checkpoint.torch"
    link.symlink_to("a.torch")
    first = fp.file_identity(link)
    link.unlink()
    link.symlink_to("b.torch")
    assert fp.file_identity(link) != first
    assert "b.torch" in fp.file_identity(link)


def test_a_split_file_is_its_contents(tmp_path):
    split = tmp_path / "1pct.txt"
    split.write_text("a.png\nb.png\n")
    first = fp.file_identity(split, whole=True)
    time.sleep(0.01)
    split.write_text("a.png\nb.png\n")  # regenerated, the same lines
    assert fp.file_identity(split, whole=True) == first
    split.write_text("a.png\nc.png\n")
    assert fp.file_identity(split, whole=True) != first


def test_a_second_run_into_a_locked_folder_is_refused_naming_the_holder(tmp_path):
    config = _config(tmp_path / "run")
    claim = run_folder.claim_run_folder(config)
    try:
        with pytest.raises(ConfigError) as refused:
            run_folder.claim_run_folder(config)
        message = str(refused.value)
        assert "in use by another run" in message
        assert f"PID {os.getpid()}" in message
        assert "\n" not in message
    finally:
        claim.release()
    run_folder.claim_run_folder(config).release()  # released: free again


def test_a_folder_of_other_inputs_is_refused_then_restarted(tmp_path):
    folder = tmp_path / "run"
    run_folder.claim_run_folder(_config(folder)).release()
    (folder / "model_final_checkpoint_phase0.torch").write_bytes(b"old")
    other = _config(folder, "config.DATA.TRAIN.BATCHSIZE_PER_REPLICA=4")
    with pytest.raises(ConfigError) as refused:
        run_folder.claim_run_folder(other)
    message = str(refused.value)
    assert "DATA.TRAIN.BATCHSIZE_PER_REPLICA: 8 -> 4" in message
    assert "--restart" in message and "another config.CHECKPOINT.DIR" in message
    claim = run_folder.claim_run_folder(other, restart=True)
    claim.release()
    (moved,) = (folder / "superseded").iterdir()
    assert (moved / "model_final_checkpoint_phase0.torch").read_bytes() == b"old"
    assert not claim.finished
    assert run_folder.checkpoint_files(folder) == []


def test_another_world_size_resumes(tmp_path):
    """VISSL resumes at another world size (with a warning); the learning rates it
    scales to the global batch change with it, and nothing else may."""
    folder = tmp_path / "run"
    queue = "config.LOSS.seer_swav_loss.queue.queue_length=32"
    run_folder.claim_run_folder(_config(folder, queue)).release()
    (folder / "model_phase0.torch").write_bytes(b"")
    wider = _config(folder, queue, "config.DISTRIBUTED.NUM_PROC_PER_NODE=2")
    # Each rank's share of the SwAV queue halves (the resume redeals the queue).
    assert wider.LOSS.seer_swav_loss.queue.local_queue_length == 16
    run_folder.claim_run_folder(wider).release()
    other = _config(
        folder, queue, "config.DISTRIBUTED.NUM_PROC_PER_NODE=2", "config.SEED_VALUE=3"
    )
    with pytest.raises(ConfigError, match="SEED_VALUE: 0 -> 3"):
        run_folder.claim_run_folder(other)


def test_restart_never_moves_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    run_folder.claim_run_folder(_config(".")).release()
    (tmp_path / "model_phase0.torch").write_bytes(b"")
    with pytest.raises(ConfigError, match="is the working directory"):
        run_folder.claim_run_folder(_config("."), restart=True)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_checkpoints_no_run_recorded_are_refused(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "model_phase0.torch").write_bytes(b"")
    with pytest.raises(ConfigError, match="so what made them is unknown"):
        run_folder.claim_run_folder(_config(folder))


def test_an_earlier_versions_run_is_compared_by_its_train_config(tmp_path):
    """No seer_run.json, but VISSL's train_config.yaml: its config is compared
    (the same: resumed and recorded; another: refused naming the key)."""
    from seer_plugins.config.compose import compose_with_args

    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "model_phase0.torch").write_bytes(b"")
    # train_config.yaml, as the launcher (and VISSL's) writes it
    compose_with_args([*TINY, f"config.CHECKPOINT.DIR={folder}"], dump_config=True)
    with pytest.raises(ConfigError, match="SEED_VALUE: 0 -> 3"):
        run_folder.claim_run_folder(_config(folder, "config.SEED_VALUE=3"))
    run_folder.claim_run_folder(_config(folder)).release()
    assert (folder / run_folder.IDENTITY_FILE).is_file()


def test_more_epochs_extend_a_finished_run_from_its_final_checkpoint(tmp_path):
    folder = tmp_path / "run"
    run_folder.claim_run_folder(_config(folder)).release()
    (folder / "model_final_checkpoint_phase0.torch").write_bytes(b"final")
    (folder / "checkpoint.torch").symlink_to("model_final_checkpoint_phase0.torch")
    same = run_folder.claim_run_folder(_config(folder))
    same.release()
    assert same.finished  # the launcher says "nothing to do"
    longer = run_folder.claim_run_folder(
        _config(folder, "config.OPTIMIZER.num_epochs=2")
    )
    longer.release()
    assert not longer.finished
    assert run_folder.checkpoint_files(folder) == ["model_phase0.torch"]
    assert (folder / "checkpoint.torch").read_bytes() == b"final"
    # Fewer epochs than the run was made with: refused.
    with pytest.raises(ConfigError, match="would end it before where it already is"):
        run_folder.claim_run_folder(_config(folder))


def test_the_same_inputs_however_spelled_are_the_same_run(tmp_path, monkeypatch):
    (tmp_path / "data" / "c").mkdir(parents=True)
    (tmp_path / "data" / "c" / "0.png").write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    relative = _config("run", "config.DATA.TRAIN.DATA_PATHS=[data]")
    absolute = _config("run", f"config.DATA.TRAIN.DATA_PATHS=[{tmp_path / 'data'}]")
    assert fp.differences(fp.fingerprint(relative), fp.fingerprint(absolute)) == []


def test_a_folder_that_cannot_be_made_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError) as refused:
        run_folder.make_run_folder(blocker / "run")
    assert str(refused.value).startswith(f"config.CHECKPOINT.DIR='{blocker / 'run'}'")
    assert "cannot be created or written" in str(refused.value)


def test_resume_takes_the_newest_checkpoint_of_either_kind(tmp_path):
    from seer_plugins.patches.resume_files import newest_checkpoint_file

    config = _config(tmp_path, "config.CHECKPOINT.CHECKPOINT_ITER_FREQUENCY=-1")
    for age, name in enumerate(["model_iteration4.torch", "model_iteration8.torch"]):
        path = tmp_path / name
        path.write_bytes(b"")
        os.utime(path, (1000 + age, 1000 + age))
    # VISSL looks only for model_phase*.torch here: "Resume from file: DIR/None".
    assert newest_checkpoint_file(str(tmp_path), config) == "model_iteration8.torch"
    (tmp_path / "model_phase0.torch").write_bytes(b"")  # written last: newest
    assert newest_checkpoint_file(str(tmp_path), config) == "model_phase0.torch"
    assert newest_checkpoint_file(str(tmp_path), config, False, 2) == (
        "model_iteration8.torch"
    )


def test_benchmarks_default_to_a_folder_of_their_config_weights_and_labels(tmp_path):
    import re

    def run_dir(config, *overrides):
        return compose([f"config=benchmark/{config}", *overrides]).CHECKPOINT.DIR

    weights = "config.MODEL.WEIGHTS_INIT.PARAMS_FILE={}/pretrain/checkpoint.torch"
    linear = run_dir("linear/digits", weights.format("a"))
    assert re.fullmatch(
        r"runs/benchmark/linear/digits/pretrain-checkpoint-[0-9a-f]{6}__all", linear
    )
    finetune = run_dir(
        "low_shot/digits",
        weights.format("a"),
        "config.DATA.TRAIN.LOW_SHOT_SPLIT_FILE=splits/10percent.txt",
    )
    assert re.fullmatch(
        r"runs/benchmark/low_shot/digits/pretrain-checkpoint-[0-9a-f]{6}"
        r"__10percent-[0-9a-f]{6}",
        finetune,
    )
    # Two pretrainings' `pretrain/checkpoint.torch`: two files, two folders.
    assert run_dir("linear/digits", weights.format("b")) != linear
    # The same file however spelled: one folder.
    absolute = weights.format(str(Path.cwd() / "a"))
    assert run_dir("linear/digits", absolute) == linear
    assert run_dir("linear/digits", "config.CHECKPOINT.DIR=mine") == "mine"


def test_the_record_is_readable_json_naming_the_engine(tmp_path):
    folder = tmp_path / "run"
    run_folder.claim_run_folder(_config(folder), "train").release()
    record = json.loads((folder / run_folder.IDENTITY_FILE).read_text())
    assert record["engine_name"] == "train"
    assert record["fingerprint"]["OPTIMIZER.num_epochs"] == "1"
    assert not any(key.startswith("CHECKPOINT.") for key in record["fingerprint"])
    assert Path(folder / run_folder.LOCK_FILE).is_file()
