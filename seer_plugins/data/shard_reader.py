"""Samples of tar shards by (shard, position), read forward with webdataset.

A tar shard is read front to back: a `pipe:` command or a URL cannot seek. The
reader keeps each shard it is reading open at the next position, so requests that
move forward through a shard (the `seer_shards` sampler's order,
:mod:`seer_plugins.data.shard_order`) read every sample once. A request behind the
point reached, and not kept, reopens the shard and reads forward again; a request
ahead of it reads the samples in between without decoding them and keeps up to
`keep` of them (the rest of a shuffle block, requested soon after).

What a shard holds is checked against its index as it is read:

- a shard that ends cleanly with another number of samples than the index says
  raises :class:`ShardCountError` (the index is stale: every position after it
  would name another image);
- a read that fails inside a shard (a truncated tar, a failing `pipe:` command
  after its first sample) marks the shard's remaining positions unreadable: they
  are returned as None and replaced by the data source;
- a shard that cannot be opened, or yields nothing before failing, raises
  :class:`ShardOpenError`: a missing file or a failing command is not bad data.
"""

import importlib
import logging
import re
import tarfile
from collections import OrderedDict

from seer_plugins.errors import ConfigError

# webdataset's package namespace shadows these modules with functions of the same name.
_gopen = importlib.import_module("webdataset.gopen")
_tariterators = importlib.import_module("webdataset.tariterators")


class ShardOpenError(ConfigError):
    """A shard that cannot be read at all (a missing file, a failing command)."""


class ShardCountError(ConfigError):
    """A shard whose sample count differs from its index's."""


def open_samples(shard: str):
    """The samples of `shard` in order, each a dict of raw member bytes by
    extension (`jpg`, `cls`, `json`, ...) with its `__key__`: webdataset's reading,
    without its decoding."""
    stream = _gopen.gopen(shard, "rb")
    files = (
        {**member, "__url__": shard}
        for member in _tariterators.tar_file_iterator(stream)
    )
    try:
        yield from _tariterators.group_by_keys(files)
    finally:
        stream.close()


def count_samples(shard: str) -> int:
    """The number of samples in `shard`, read through (nothing is decoded)."""
    return sum(1 for _ in open_samples(shard))


# Errors a read of a shard's bytes raises: a truncated tar, a command's exit status.
READ_ERRORS = (tarfile.TarError, EOFError, OSError, ValueError)


class _Cursor:
    """An open shard and the position of the next sample it yields."""

    def __init__(self, shard: int, name: str):
        self.shard = shard
        self.samples = open_samples(name)
        self.position = 0

    def close(self) -> None:
        self.samples.close()


class ShardReader:
    """Raw samples by (shard number, position), reading each shard forward.

    Several streams may read one shard at once (a stream's run of samples starts
    and ends anywhere): a request continues the open cursor of its shard that is
    at most `keep` samples behind it (every sample passed is then kept), else it
    opens the shard again and reads the prefix up to it (keeping the last `keep`).

    Args:
        shards: the shards, as webdataset's `gopen` opens them.
        counts: each shard's sample count, from the index.
        keep: samples read on the way to a requested one that are kept for a
            later request, at most (the shuffle buffer's size).
        key: the config key that named the shards, for refusals.
        open_shards: cursors kept open at once, at most.
    """

    def __init__(
        self,
        shards: list[str],
        counts: list[int],
        keep: int,
        key: str = "DATA_PATHS",
        open_shards: int = 16,
    ):
        self.shards, self.counts, self.key = list(shards), list(counts), key
        self.keep, self.open_shards = max(0, int(keep)), max(1, int(open_shards))
        self._cursors: list[_Cursor] = []  # least recently used first
        self._kept: OrderedDict[tuple[int, int], dict] = OrderedDict()
        # shard number -> (first unreadable position, why)
        self.unreadable_from: dict[int, tuple[int, str]] = {}
        # What was read: for the tests and the benchmarks.
        self.opened: list[tuple[int, int]] = []  # (shard, position asked) per open
        self.samples_read = 0

    def sample(self, shard: int, position: int) -> dict | None:
        """The raw sample at `position` of shard number `shard`; None when the
        shard's bytes there cannot be read (see :attr:`unreadable_from`)."""
        kept = self._kept.pop((shard, position), None)
        if kept is not None:
            return kept
        broken = self.unreadable_from.get(shard)
        if broken is not None and position >= broken[0]:
            return None
        cursor = self._cursor_for(shard, position)
        while True:
            sample = self._next(cursor)
            if sample is None:
                return None
            at = cursor.position - 1
            if at == position:
                return sample
            if at >= position - self.keep:
                self._keep((shard, at), sample)

    def close(self) -> None:
        for cursor in self._cursors:
            cursor.close()
        self._cursors.clear()
        self._kept.clear()

    def _cursor_for(self, shard: int, position: int) -> _Cursor:
        near = [
            c
            for c in self._cursors
            if c.shard == shard and 0 <= position - c.position <= self.keep
        ]
        if near:
            cursor = max(near, key=lambda c: c.position)
            self._cursors.remove(cursor)
            self._cursors.append(cursor)
            return cursor
        while len(self._cursors) >= self.open_shards:
            self._cursors.pop(0).close()
        cursor = _Cursor(shard, self.shards[shard])
        self._cursors.append(cursor)
        self.opened.append((shard, position))
        return cursor

    def _keep(self, key: tuple[int, int], sample: dict) -> None:
        self._kept[key] = sample
        # Several streams are read at once: the bound is per open cursor.
        while len(self._kept) > max(1, self.keep) * self.open_shards:
            self._kept.popitem(last=False)

    def _next(self, cursor: _Cursor) -> dict | None:
        """The cursor's next sample; None once its shard's bytes fail."""
        name, expected = self.shards[cursor.shard], self.counts[cursor.shard]
        try:
            sample = next(cursor.samples, None)
        except READ_ERRORS as error:
            return self._failed(cursor, error)
        if sample is None:
            self._finish(cursor)
            if cursor.position != expected:
                raise self._count_error(name, cursor.position, expected)
            return None
        cursor.position += 1
        self.samples_read += 1
        if cursor.position > expected:
            self._finish(cursor)
            raise self._count_error(name, f"more than {expected}", expected)
        if cursor.position == expected:
            self._check_end(cursor)
        return sample

    def _check_end(self, cursor: _Cursor) -> None:
        """At the index's last position: the shard must end there."""
        name, expected = self.shards[cursor.shard], self.counts[cursor.shard]
        try:
            extra = next(cursor.samples, None)
        except READ_ERRORS:
            extra = None  # a damaged tail past the last sample: nothing to read
        self._finish(cursor)
        if extra is not None:
            raise self._count_error(name, f"more than {expected}", expected)

    def _finish(self, cursor: _Cursor) -> None:
        if cursor in self._cursors:
            self._cursors.remove(cursor)
        cursor.close()

    def _failed(self, cursor: _Cursor, error: Exception) -> None:
        shard, position = cursor.shard, cursor.position
        name = self.shards[shard]
        self._finish(cursor)
        if position == 0 and isinstance(error, FileNotFoundError):
            raise ShardOpenError(self.key, name, "no such shard") from None
        if position == 0 and not isinstance(error, tarfile.TarError):
            raise ShardOpenError(
                self.key, name, f"cannot be read ({describe_read_error(error)})"
            ) from None
        why = describe_read_error(error)
        self.unreadable_from[shard] = (position, why)
        logging.warning(
            "shard %s: unreadable after %d of its %d samples (%s); the other %d are "
            "replaced",
            name,
            position,
            self.counts[shard],
            why,
            self.counts[shard] - position,
        )
        return None

    def _count_error(self, shard: str, found, expected: int) -> ShardCountError:
        return ShardCountError(
            self.key,
            shard,
            f"holds {found} samples and its index says {expected}",
            "rebuild the index with: seer shards index PATTERN|DIR",
        )


def describe_read_error(error: Exception) -> str:
    """An error in words; a `pipe:` command's exit status as such (webdataset
    reports it as its arguments' repr)."""
    status = re.search(r"exit (\d+) \(read\)", str(error))
    if status:
        return f"its command exited with status {status.group(1)}"
    return f"{type(error).__name__}: {error}"
