"""A command's output never replaces its input, nor an existing file unasked, and a
bad path is one line before any slow work (`seer convert`, `init-checkpoint`,
`split`), through the command line as a user types it."""

import pytest
from PIL import Image

import seer_plugins  # noqa: F401

# isort: split
from seer_plugins import cli
from seer_plugins.apps.sweep.init_checkpoint import write_init_checkpoint


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run folder as VISSL leaves it: a final checkpoint and its link (weights
    other than seer_tiny's untrained ones: another seed's)."""
    folder = tmp_path_factory.mktemp("run")
    final = folder / "model_final_checkpoint_phase0.torch"
    write_init_checkpoint(["config=pretrain/seer_tiny", "config.SEED_VALUE=7"], final)
    (folder / "checkpoint.torch").symlink_to(final.name)
    return folder


def _refused(capsys, argv, key, fragment):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {key}="), err
    assert fragment in lines[0], lines[0]


def test_convert_refuses_its_input_as_output(trained, capsys):
    final = trained / "model_final_checkpoint_phase0.torch"
    before = final.read_bytes()
    _refused(
        capsys,
        ["convert", str(final), str(trained / "checkpoint.torch"), "--to", "vissl"],
        "OUTPUT",
        f"is the input {final} (a link to {final})",
    )
    assert final.read_bytes() == before


def test_init_checkpoint_does_not_write_through_a_link(trained, capsys):
    final = trained / "model_final_checkpoint_phase0.torch"
    before = final.read_bytes()
    link = trained / "checkpoint.torch"
    argv = ["init-checkpoint", str(link), "config=pretrain/seer_tiny"]
    _refused(capsys, argv, "OUT", f"exists (a link to {final})")
    assert final.read_bytes() == before


def test_the_same_init_checkpoint_twice_is_unchanged(tmp_path, capsys):
    argv = [
        "init-checkpoint",
        str(tmp_path / "init.torch"),
        "config=pretrain/seer_tiny",
    ]
    assert cli.main(argv) == 0
    made = (tmp_path / "init.torch").stat().st_mtime_ns
    assert cli.main(argv) == 0
    assert "unchanged (the same untrained model)" in capsys.readouterr().out
    assert (tmp_path / "init.torch").stat().st_mtime_ns == made
    other = [*argv, "config.SEED_VALUE=1"]
    _refused(capsys, other, "OUT", "exists, holding other weights; add --force")
    assert cli.main([*other, "--force"]) == 0


def test_an_existing_output_is_replaced_only_with_force(trained, tmp_path, capsys):
    source = str(trained / "model_final_checkpoint_phase0.torch")
    out = tmp_path / "timm.pth"
    out.write_bytes(b"mine")
    argv = ["convert", source, str(out), "--to", "timm"]
    _refused(capsys, argv, "OUTPUT", "exists; add --force to replace it")
    assert out.read_bytes() == b"mine"
    assert cli.main([*argv, "--force"]) == 0
    assert out.stat().st_size > 1000
    assert not list(tmp_path.glob(".*partial"))  # written atomically


def test_nothing_is_written_into_a_run_folder_even_with_force(trained, capsys):
    (trained / "seer_run.json").write_text("{}")  # a recorded run's folder
    try:
        argv = ["init-checkpoint", str(trained / "checkpoint.torch")]
        _refused(
            capsys,
            [*argv, "config=pretrain/seer_tiny", "--force"],
            "OUT",
            "is in the run folder",
        )
    finally:
        (trained / "seer_run.json").unlink()


def test_convert_checks_the_output_folder_before_loading(trained, tmp_path, capsys):
    (tmp_path / "file").write_text("")
    source = str(trained / "model_final_checkpoint_phase0.torch")
    argv = ["convert", source, str(tmp_path / "file" / "x.pth"), "--to", "vissl"]
    _refused(capsys, argv, "OUTPUT", "cannot be made")


def test_convert_a_folder_without_metadata_is_one_line(tmp_path, capsys):
    (tmp_path / "shards").mkdir()
    argv = [
        "convert",
        str(tmp_path / "shards"),
        str(tmp_path / "x.pth"),
        "--to",
        "vissl",
    ]
    _refused(capsys, argv, "INPUT", "is a folder without a sharded checkpoint's")


def test_split_refuses_an_image_and_an_existing_output(tmp_path, capsys):
    Image.new("RGB", (4, 4)).save(tmp_path / "img.png")
    argv = ["split", str(tmp_path / "img.png"), "--fraction", "0.1"]
    _refused(capsys, argv, "source", "is neither a folder nor a .txt/.csv file list")
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\x00binary")
    argv = ["split", str(tmp_path / "bad.txt"), "--fraction", "0.1"]
    _refused(capsys, argv, "source", "is not a text file list")
    for c in range(2):
        (tmp_path / "data" / f"c{c}").mkdir(parents=True)
        for i in range(4):
            Image.new("RGB", (4, 4)).save(tmp_path / "data" / f"c{c}" / f"{i}.png")
    out = tmp_path / "split.txt"
    out.write_text("mine\n")
    argv = ["split", str(tmp_path / "data"), "--per-class", "1", "--out", str(out)]
    _refused(capsys, argv, "--out", "exists, holding another split; add --force")
    assert out.read_text() == "mine\n"
    assert cli.main([*argv, "--force"]) == 0
    assert len(out.read_text().splitlines()) == 2
    # The same command again (the README's commands, run twice): the same split.
    assert cli.main(argv) == 0
    assert "unchanged (the same split)" in capsys.readouterr().out


def test_a_key_under_another_prefix_gets_a_did_you_mean():
    from seer_plugins.config.compose import compose
    from seer_plugins.errors import ConfigError

    with pytest.raises(ConfigError) as refused:
        compose(["config=pretrain/seer_tiny", "config.NUM_DATALOADER_WORKERS=2"])
    assert "did you mean config.DATA.NUM_DATALOADER_WORKERS?" in str(refused.value)
