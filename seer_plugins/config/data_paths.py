"""The data source follows the data: `DATA_PATHS` set on a `synthetic` source.

`config=pretrain/seer_tiny config.DATA.TRAIN.DATA_PATHS=[my_folder]` used to train on
VISSL's synthetic noise (the source stays `synthetic`, which ignores paths) and exit
0. A path given to a synthetic source now selects the source that reads it: tar
shards (a brace pattern, a `pipe:` or a URL, a folder of `.tar` files, a shard list)
-> `seer_shards`, a folder -> `disk_folder`, a file (a list of image paths, `.npy`,
`.txt` or `.csv`) -> `disk_filelist`. Synthetic label sources follow the same way,
and so does a `disk_folder` label source beside a file list (VISSL asserts the two
are one source) or beside shards (whose labels are read with each sample; none
when `LABEL_TYPE` is `sample_index`). The synthetic source's `DATA_LIMIT`
(how many noise images it makes) does not carry over to real data unless the command
line sets it: every image is used.

For any disk source given paths, a leftover `synthetic` dataset name is replaced by
the folder's name, and an empty `LABEL_PATHS` takes the data paths: VISSL otherwise
looks label files up by dataset name in its catalog and fails ("Dataset ... is not
registered") after the processes started.
"""

import logging
from pathlib import Path

from seer_plugins.config.derived import used_splits
from seer_plugins.config.shard_paths import names_shards
from seer_plugins.errors import ConfigError

SYNTHETIC = "synthetic"
# Our data sources' registered names (their modules take them from here).
SHARDS = "seer_shards"
LOW_SHOT = "seer_low_shot"
# Label sources that read the data source's own labels: a folder's, seer_low_shot's.
SOURCE_OWN_LABELS = ("disk_folder", "torchvision_dataset")
# The file lists data sources read (seer_plugins.data.file_lists).
TEXT_LIST_SUFFIXES = (".txt", ".csv")
FILE_LIST_SUFFIXES = (".npy", *TEXT_LIST_SUFFIXES)


def source_for(path: str) -> str:
    """The VISSL source that reads `path`: tar shards, a folder or a file list."""
    if names_shards(path):
        return SHARDS
    location = Path(path)
    if location.is_dir():
        return "disk_folder"
    if location.is_file() or location.suffix.lower() in FILE_LIST_SUFFIXES:
        return "disk_filelist"
    return "disk_folder"


def _per_path(values: list, count: int, key: str, paths: list) -> list:
    if len(values) == count:
        return list(values)
    if len(values) == 1:
        return values * count
    raise ConfigError(
        key,
        values,
        f"has {len(values)} entries for {count} DATA_PATHS {paths}",
        "give one entry per path",
    )


def _catalogued(name: str) -> bool:
    from vissl.data.dataset_catalog import VisslDatasetCatalog

    return VisslDatasetCatalog.has_data(name)


def follow_data_paths(config, command_line_keys: set[str]) -> None:
    """Make the sources, names and label paths follow `DATA_PATHS` (in place).

    Args:
        command_line_keys: `DATA.TRAIN.DATA_LIMIT`-style keys set on the command line.
    """
    for split in used_splits(config):
        data = config.DATA[split]
        paths = [str(p) for p in data.get("DATA_PATHS", None) or []]
        if not paths:
            continue
        key = f"config.DATA.{split}"
        sources = list(data.get("DATA_SOURCES", None) or [])
        if SYNTHETIC in sources:
            _follow_synthetic(data, key, paths, sources, command_line_keys, split)
        _follow_shards(data, key, paths)
        _drop_config_limit_on_shards(data, key, split, command_line_keys)
        _follow_list_labels(data, key, paths)
        _follow_shard_labels(data, key)
        sources = list(data.DATA_SOURCES)
        names = list(data.get("DATASET_NAMES", None) or [])
        if len(names) == len(paths):
            # A synthetic dataset name left on a disk source names nothing.
            data.DATASET_NAMES = [
                Path(path).stem or "images"
                if name == SYNTHETIC and source != SYNTHETIC
                else name
                for name, source, path in zip(names, sources, paths, strict=True)
            ]
        if (
            not data.get("LABEL_PATHS", None)
            and SYNTHETIC not in sources
            and not all(_catalogued(name) for name in data.get("DATASET_NAMES", []))
        ):
            # VISSL looks label paths up by dataset name in its catalog when
            # LABEL_PATHS is empty, and fails for a name it does not know.
            data.LABEL_PATHS = list(paths)


_SAID: set[str] = set()


def _warn_once(message: str, *args) -> None:
    """Log a warning once per process (a config is composed more than once)."""
    text = message % args
    if text not in _SAID:
        _SAID.add(text)
        logging.warning(text)


def _follow_list_labels(data, key, paths) -> None:
    """A label source that reads its data source's own labels (`disk_folder`, which
    VISSL asserts is the data source too; `torchvision_dataset`, which asks the
    data source) beside a `disk_filelist` data source reads the labels from a list
    instead; a text list (.txt, .csv), which carries its labels or its images'
    folder names, is its own label list unless LABEL_PATHS names a file."""
    sources = list(data.get("DATA_SOURCES", None) or [])
    labels = list(data.get("LABEL_SOURCES", None) or [])
    if len(labels) != len(sources) or len(sources) != len(paths):
        return
    label_paths = [str(p) for p in data.get("LABEL_PATHS", None) or []]
    label_paths += [""] * (len(paths) - len(label_paths))
    old_labels = list(labels)
    switched = []
    for i, (source, label) in enumerate(zip(sources, labels, strict=True)):
        if source != "disk_filelist" or label not in SOURCE_OWN_LABELS:
            continue
        labels[i] = "disk_filelist"
        text_list = paths[i].lower().endswith(TEXT_LIST_SUFFIXES)
        if text_list and not Path(label_paths[i]).is_file():
            label_paths[i] = paths[i]
        switched.append(i)
    if switched and data.get("LABEL_TYPE", "standard") == "sample_index":
        if set(labels) == {"disk_filelist"}:
            # The labels are the samples' numbers (SwAV's): a label list would
            # only cost memory (the image list read again as labels: ~500 bytes
            # an image per process).
            data.LABEL_SOURCES = []
            _warn_once("%s.LABEL_SOURCES: none (LABEL_TYPE sample_index)", key)
            return
    if switched:
        data.LABEL_SOURCES = labels
        data.LABEL_PATHS = label_paths
        _warn_once(
            "%s.LABEL_SOURCES: disk_filelist for the file list(s) %s (was %s, "
            "which reads a folder's); labels from LABEL_PATHS=%s",
            key,
            [paths[i] for i in switched],
            [old_labels[i] for i in switched],
            [label_paths[i] for i in switched],
        )


# Sources that read image files, and cannot read tar shards.
IMAGE_FILE_SOURCES = ("disk_folder", "disk_filelist", LOW_SHOT)


def _follow_shards(data, key, paths) -> None:
    """Shards given to a source of image files (a benchmark's folder source) are
    read by `seer_shards`."""
    sources = list(data.get("DATA_SOURCES", None) or [])
    if len(sources) != len(paths):
        return
    followed = [
        SHARDS if source in IMAGE_FILE_SOURCES and names_shards(path) else source
        for source, path in zip(sources, paths, strict=True)
    ]
    if followed != sources:
        data.DATA_SOURCES = followed
        _warn_once(
            "%s.DATA_PATHS=%s names tar shards: reading them with %s (was %s)",
            key,
            paths,
            followed,
            sources,
        )


def _drop_config_limit_on_shards(data, key, split, command_line_keys) -> None:
    """A config's `DATA_LIMIT` (seer_tiny's, for its synthetic images) does not
    carry over to shards; one given on the command line is refused by the
    preflight (it would pick samples all over the shards)."""
    limit = data.get("DATA_LIMIT", -1)
    if SHARDS not in list(data.get("DATA_SOURCES", None) or []) or limit in (-1, None):
        return
    if f"DATA.{split}.DATA_LIMIT" in command_line_keys:
        return
    data.DATA_LIMIT = -1
    _warn_once("%s.DATA_LIMIT: every sample of the shards (was %s)", key, limit)


def _follow_shard_labels(data, key) -> None:
    """A label source that reads its data source's own labels (a folder's) beside
    `seer_shards` reads the shards' labels (`seer_shards`); a split whose labels are
    sample indices (`LABEL_TYPE: sample_index`, SwAV's) reads none."""
    sources = list(data.get("DATA_SOURCES", None) or [])
    labels = list(data.get("LABEL_SOURCES", None) or [])
    if SHARDS not in sources or len(labels) != len(sources):
        return
    own = (*SOURCE_OWN_LABELS, SYNTHETIC)
    followed = [
        SHARDS if source == SHARDS and label in own else label
        for source, label in zip(sources, labels, strict=True)
    ]
    if data.get("LABEL_TYPE", "standard") == "sample_index" and set(followed) == {
        SHARDS
    }:
        followed = []  # the labels are the samples' numbers: nothing to read
    if followed != labels:
        data.LABEL_SOURCES = followed
        _warn_once(
            "%s.LABEL_SOURCES: %s for the seer_shards data source (was %s)",
            key,
            followed,
            labels,
        )


def _follow_synthetic(data, key, paths, sources, command_line_keys, split) -> None:
    sources = _per_path(sources, len(paths), f"{key}.DATA_SOURCES", paths)
    chosen = [
        source_for(path) if source == SYNTHETIC else source
        for source, path in zip(sources, paths, strict=True)
    ]
    data.DATA_SOURCES = chosen
    names = list(data.get("DATASET_NAMES", None) or [])
    if names:
        data.DATASET_NAMES = _per_path(names, len(paths), f"{key}.DATASET_NAMES", paths)
    labels = list(data.get("LABEL_SOURCES", None) or [])
    if SYNTHETIC in labels:
        labels = _per_path(labels, len(paths), f"{key}.LABEL_SOURCES", paths)
        data.LABEL_SOURCES = [
            chosen[i] if label == SYNTHETIC else label for i, label in enumerate(labels)
        ]
    limit = data.get("DATA_LIMIT", -1)
    keep_limit = f"DATA.{split}.DATA_LIMIT" in command_line_keys
    if limit not in (-1, None) and not keep_limit:
        data.DATA_LIMIT = -1
    _warn_once(
        "%s.DATA_PATHS=%s with DATA_SOURCES=[synthetic]: reading them with %s%s",
        key,
        paths,
        chosen,
        ""
        if keep_limit or limit in (-1, None)
        else f", all images (the synthetic source's DATA_LIMIT={limit} does not apply)",
    )
