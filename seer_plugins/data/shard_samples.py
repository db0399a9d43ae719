"""What one tar-shard sample holds: its image member and its label.

A sample is webdataset's dict of raw member bytes by extension (`jpg`, `cls`,
`json`, ...). Its image is its first member among the `IMAGE_KEYS`; its label is
its `.cls`, or a (dotted) field of its `.json`, a class name being numbered by the
index's classes. The `seer_shards` data source reads them for training, `seer
split` for a low-shot split, so both agree on every sample.
"""

import json


def image_bytes(sample: dict, image_keys: list[str]) -> bytes:
    """The sample's image member. Raises KeyError naming the members it has."""
    data = next((sample[k] for k in image_keys if k in sample), None)
    if data is None:
        members = sorted(k for k in sample if not k.startswith("__"))
        raise KeyError(f"no image member ({'/'.join(image_keys)}): {members}")
    return data


def sample_label(
    sample: dict, label_key: str, class_numbers: dict[str, int]
) -> int | None:
    """The sample's class number; None when it has none (no `.cls`, no such json
    field, or a class name `class_numbers` does not list)."""
    try:
        if label_key:
            value = json.loads(sample["json"])
            for part in label_key.split("."):
                value = value[part]
        else:
            value = sample["cls"].decode().strip()
    except (KeyError, TypeError, ValueError, UnicodeDecodeError):
        return None
    if isinstance(value, str) and value in class_numbers:
        return class_numbers[value]
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def label_source(label_key: str) -> str:
    """Where a label is read from, in words."""
    if label_key:
        return f"SEER_SHARDS.LABEL_KEY={label_key!r} of its .json"
    return "its .cls member (SEER_SHARDS.LABEL_KEY='')"
