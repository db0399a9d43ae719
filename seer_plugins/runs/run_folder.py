"""A run folder (`CHECKPOINT.DIR`) holds one run: one fingerprint, one process at a time.

VISSL resumes whatever checkpoint it finds in `CHECKPOINT.DIR` and calls any folder
holding a final checkpoint "already succeeded", whatever config made it. Before the
workers start, the launcher claims the folder here:

- **one run at a time**: an `fcntl` lock on `.seer_run.lock`, held by the launcher
  for the job's life; the kernel releases it on any death, so a killed run never
  leaves a stale lock. A second run into a locked folder is refused, naming the
  holder's host and PID;
- **one fingerprint** (:mod:`seer_plugins.runs.fingerprint`), recorded in
  `seer_run.json`. A rerun with an equal fingerprint resumes (or, finished, has
  nothing to do); one that differs only in `OPTIMIZER.num_epochs` extends the run
  (a finished run's final checkpoint becomes its last phase checkpoint, which VISSL
  resumes from); any other difference is refused in one line naming it, with the
  two ways on: another `CHECKPOINT.DIR`, or `--restart`, which moves the old run to
  `superseded/<time>/` (nothing is deleted).
"""

import fcntl
import json
import logging
import os
import re
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from seer_plugins.checkpoints.atomic import write_text_atomically
from seer_plugins.errors import ConfigError
from seer_plugins.runs.fingerprint import (
    INPUT_PREFIX,
    WORLD_SIZE_KEY,
    describe,
    differences,
    fingerprint,
    resumable_keys,
    variant,
)

IDENTITY_FILE = "seer_run.json"
VISSL_CONFIG_FILE = "train_config.yaml"  # the config VISSL's launcher dumps
LOCK_FILE = ".seer_run.lock"
SUPERSEDED = "superseded"
EPOCHS_KEY = "OPTIMIZER.num_epochs"
FINAL = re.compile(
    r"^model_final_checkpoint_(phase|iteration)(\d+)(_shard\d+)?\.torch$"
)
DIR_KEY = "config.CHECKPOINT.DIR"


@dataclass
class RunClaim:
    """A claimed run folder; the lock lasts until `release()` or the process ends."""

    folder: Path
    lock_fd: int | None
    finished: bool = False

    def release(self) -> None:
        if self.lock_fd is not None:
            os.close(self.lock_fd)  # closing the descriptor releases the lock
            self.lock_fd = None


def make_run_folder(folder: str | os.PathLike) -> Path:
    """Create `folder`, or refuse in one line (VISSL asserts)."""
    path = Path(folder).expanduser()
    if path.exists() and not path.is_dir():
        raise ConfigError(
            DIR_KEY, str(folder), "is a file, not a folder", "give a folder's path"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".seer_write_test.{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise ConfigError(
            DIR_KEY,
            str(folder),
            f"cannot be created or written ({error.strerror or error})",
            "give a folder this user can write",
        ) from None
    return path


def lock_run_folder(folder: Path) -> int:
    """Take the folder's lock without waiting; refuse, naming the holder, if held."""
    path = folder / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 512).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise ConfigError(
            DIR_KEY,
            str(folder),
            f"is in use by another run ({holder})",
            "wait for it to end, or give this run another config.CHECKPOINT.DIR",
        ) from None
    os.ftruncate(fd, 0)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    os.pwrite(
        fd, f"host {socket.gethostname()}, PID {os.getpid()}, since {stamp}".encode(), 0
    )
    return fd


def read_identity(folder: Path) -> dict | None:
    path = folder / IDENTITY_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def record_identity(folder: str | os.PathLike, engine_name: str, flat: dict) -> dict:
    """Write `folder/seer_run.json`: `flat`, the fingerprint of the run."""
    record = {"engine_name": engine_name, "fingerprint": flat}
    write_text_atomically(
        Path(folder) / IDENTITY_FILE, json.dumps(record, indent=1) + "\n"
    )
    return record


def changes(folder: str | os.PathLike, config, engine_name: str) -> list[tuple]:
    """How the run recorded in `folder` differs from `engine_name` on `config`
    (`[(key, before, now)]`; one pseudo-key when nothing was recorded)."""
    recorded = read_identity(Path(folder))
    if recorded is None:
        return [(IDENTITY_FILE, None, "none: made before runs recorded fingerprints")]
    now = fingerprint(config, engine_name)
    return differences(recorded.get("fingerprint", {}), now)


def run_variant(folder: str | os.PathLike) -> str:
    """The recorded run's fingerprint without its seed (`fingerprint.variant`)."""
    recorded = read_identity(Path(folder))
    return variant(recorded["fingerprint"]) if recorded else ""


def checkpoint_files(folder: Path) -> list[str]:
    """The checkpoints in `folder` (not VISSL's `checkpoint.torch` link)."""
    return sorted(
        p.name for p in folder.glob("*.torch") if p.is_file() and not p.is_symlink()
    )


def refuse_writing_into_a_run(path: str | os.PathLike, key: str) -> None:
    """Refuse a file written into a recorded run folder (the run's checkpoints are
    its own: an untrained model written over the trained one, behind its record,
    would be "finished" and wrong), even with --force."""
    folder = Path(path).expanduser().resolve().parent
    if (folder / IDENTITY_FILE).is_file():
        raise ConfigError(
            key,
            str(path),
            f"is in the run folder {folder}, whose files are the run's",
            "write it elsewhere",
        )


def holds_a_run(folder: str | os.PathLike) -> bool:
    """`folder` holds a run: its record, or checkpoints."""
    folder = Path(folder)
    return folder.is_dir() and (
        (folder / IDENTITY_FILE).is_file() or bool(checkpoint_files(folder))
    )


def supersede_folder(folder: Path) -> Path:
    """Move everything a run left in `folder` to `folder/superseded/<time>/`; not
    in the working directory (VISSL's default `"."`), where that would be
    everything the user keeps there."""
    if folder.resolve() in (Path.cwd(), *Path.cwd().parents):
        raise ConfigError(
            DIR_KEY,
            str(folder),
            "is the working directory (or holds it): --restart would move "
            "everything in it",
            "give the run a folder of its own",
        )
    target = folder / SUPERSEDED / time.strftime("%Y%m%d-%H%M%S")
    target.mkdir(parents=True, exist_ok=False)
    for entry in folder.iterdir():
        if entry.name not in (SUPERSEDED, LOCK_FILE):
            shutil.move(str(entry), target / entry.name)
    return target


def _refuse(folder: Path, problem: str) -> ConfigError:
    return ConfigError(
        DIR_KEY,
        str(folder),
        problem,
        "give this run another config.CHECKPOINT.DIR, or add --restart to move the "
        f"old run to {folder}/{SUPERSEDED}/",
    )


def _epochs(flat: dict) -> int | None:
    try:
        return int(json.loads(flat.get(EPOCHS_KEY, "null")))
    except (TypeError, ValueError):
        return None


def reopen_final_checkpoints(folder: Path) -> list[str]:
    """Rename a finished run's final checkpoint to its phase name, so VISSL resumes
    from it (and no longer reads the run as finished)."""
    renamed = []
    link = folder / "checkpoint.torch"  # VISSL's link to the newest checkpoint
    for name in checkpoint_files(folder):
        match = FINAL.match(name)
        if match:
            mode, number, shard = match.groups()
            new = f"model_{mode}{number}{shard or ''}.torch"
            os.replace(folder / name, folder / new)
            renamed.append(new)
            if link.is_symlink() and Path(os.readlink(link)).name == name:
                link.unlink()
                link.symlink_to(new)
    return renamed


def _check_epochs(folder: Path, before: dict, now: dict) -> str:
    """ "same", "extend" (epochs raised) or a refusal (epochs lowered)."""
    old, new = _epochs(before), _epochs(now)
    if old is None or new is None or old == new:
        return "same"
    if new < old and checkpoint_files(folder):
        raise _refuse(
            folder,
            f"holds a run of {old} epochs, and {EPOCHS_KEY}={new} would end it "
            "before where it already is",
        )
    return "extend"


def _earlier_run(folder: Path, now: dict, engine_name: str) -> dict:
    """A run folder with checkpoints and no record (a run of an earlier version, or
    VISSL's own launcher): its `train_config.yaml` (which VISSL writes) stands in
    for the record, config only: what its data and weights were is not known, and a
    warning says so. Without that file, what made the checkpoints is unknown."""
    from omegaconf import OmegaConf

    config_file = folder / VISSL_CONFIG_FILE
    if not config_file.is_file():
        raise _refuse(
            folder,
            f"holds checkpoints and neither {IDENTITY_FILE} nor {VISSL_CONFIG_FILE}, "
            "so what made them is unknown",
        )
    config = OmegaConf.to_container(OmegaConf.load(config_file))
    earlier = {
        key: value
        for key, value in fingerprint(config, engine_name).items()
        if not key.startswith(INPUT_PREFIX)
    }
    earlier.update({k: v for k, v in now.items() if k.startswith(INPUT_PREFIX)})
    logging.warning(
        "%s holds a run with no %s (an earlier version's): its config is compared "
        "from %s; its data and weights cannot be, and are taken to be these",
        folder,
        IDENTITY_FILE,
        VISSL_CONFIG_FILE,
    )
    return {"engine_name": engine_name, "fingerprint": earlier}


def claim_run_folder(
    config, engine_name: str = "train", restart: bool = False
) -> RunClaim:
    """Lock `config.CHECKPOINT.DIR` and check what it holds is this run (module doc)."""
    folder = make_run_folder(config.CHECKPOINT.DIR)
    claim = RunClaim(folder, lock_run_folder(folder))
    try:
        now = fingerprint(config, engine_name)
        if restart and holds_a_run(folder):
            moved = supersede_folder(folder)
            print(f"--restart: the earlier run in {folder} moved to {moved}")
        elif holds_a_run(folder):
            recorded = read_identity(folder) or _earlier_run(folder, now, engine_name)
            before = recorded.get("fingerprint", {})
            resumable = resumable_keys(before, now)
            changed = differences(before, now, allowed={EPOCHS_KEY, *resumable})
            if changed:
                for difference in changed:
                    logging.warning("differs from %s: %s", folder, describe(difference))
                more = (
                    f" (and {len(changed) - 1} more, in the log above)"
                    if len(changed) > 1
                    else ""
                )
                raise _refuse(
                    folder,
                    "holds a run of another config or inputs: "
                    f"{describe(changed[0])}{more}",
                )
            if resumable:
                logging.warning(
                    "resuming %s at world size %s (it ran at %s): the global batch, "
                    "and the learning rates scaled to it, change",
                    folder,
                    now.get(WORLD_SIZE_KEY),
                    before.get(WORLD_SIZE_KEY),
                )
            if _check_epochs(folder, before, now) == "extend":
                renamed = reopen_final_checkpoints(folder)
                if renamed:
                    print(
                        f"extending the finished run in {folder} to "
                        f"{_epochs(now)} epochs, from {', '.join(renamed)}"
                    )
            claim.finished = any(FINAL.match(n) for n in checkpoint_files(folder))
            if not claim.finished:
                print(f"run folder {folder}: resuming (the same config and inputs)")
        else:
            print(f"run folder {folder}: a new run")
        record = {"engine_name": engine_name, "fingerprint": now}
        write_text_atomically(
            folder / IDENTITY_FILE, json.dumps(record, indent=1) + "\n"
        )
    except BaseException:
        claim.release()
        raise
    return claim
