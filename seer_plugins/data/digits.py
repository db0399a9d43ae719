"""scikit-learn's digits as an image folder, the offline stand-in for ImageNet.

`export_digits(root)` writes the 1,797 8x8 digits as upscaled RGB PNGs to
`root/{train,val}/<digit>/<index>.png` (`index` = row in `load_digits()`, so file
names are unique and a SimCLR-style split file can name them bare), with a seeded,
stratified train/val split. VISSL's `disk_folder` and our `seer_low_shot` read it.

    python -m seer_plugins.data.digits /tmp/digits --size 32
"""

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

MARKER = ".seer_digits.json"
_RESAMPLE = {"bicubic": Image.Resampling.BICUBIC, "nearest": Image.Resampling.NEAREST}


def _stratified_val_mask(labels: np.ndarray, val_fraction: float, seed: int):
    """True for validation rows: `round(val_fraction * n_c)` of each class `c`."""
    rng = np.random.default_rng(seed)
    is_val = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        is_val[
            rng.choice(rows, size=round(val_fraction * len(rows)), replace=False)
        ] = True
    return is_val


def _complete(root: Path, settings: dict) -> bool:
    marker = root / MARKER
    if not marker.is_file():
        return False
    written = json.loads(marker.read_text())
    if written["settings"] != settings:
        raise FileExistsError(
            f"{root} holds a digits export made with {written['settings']}, "
            f"not {settings}: pick another folder or delete this one"
        )
    return all(
        sum(1 for _ in (root / split).rglob("*.png")) == count
        for split, count in written["counts"].items()
    )


def export_digits(
    root: str | Path,
    *,
    size: int = 32,
    val_fraction: float = 0.2,
    seed: int = 0,
    resample: str = "bicubic",
) -> dict[str, int]:
    """Write the digits image folder under `root`; a complete export is kept as is.

    Args:
        size: side of the square PNGs (the 8x8 originals are upscaled).
        val_fraction: share of each class that goes to `val/`.
        seed: picks the validation images.
        resample: "bicubic" or "nearest".

    Returns:
        images per split, e.g. `{"train": 1438, "val": 359}`.
    """
    from sklearn.datasets import load_digits

    root = Path(root)
    if resample not in _RESAMPLE:
        raise ValueError(
            f"resample must be one of {sorted(_RESAMPLE)}, got {resample!r}"
        )
    settings = dict(size=size, val_fraction=val_fraction, seed=seed, resample=resample)
    if _complete(root, settings):
        return json.loads((root / MARKER).read_text())["counts"]

    digits = load_digits()
    # Pixel values are 0..16 ink counts: scale to 0..255 grey.
    pixels = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)
    is_val = _stratified_val_mask(digits.target, val_fraction, seed)
    counts = {"train": 0, "val": 0}
    for index, (image, label, val) in enumerate(
        zip(pixels, digits.target, is_val, strict=True)
    ):
        split = "val" if val else "train"
        folder = root / split / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        big = Image.fromarray(image).resize((size, size), _RESAMPLE[resample])
        big.convert("RGB").save(folder / f"{index}.png")
        counts[split] += 1
    # The marker is written last: its presence means every image is on disk.
    (root / MARKER).write_text(json.dumps({"settings": settings, "counts": counts}))
    return counts


def main(argv: Sequence[str] | None = None) -> dict[str, int]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", help="output folder (gets train/ and val/)")
    parser.add_argument("--size", type=int, default=32, help="image side in pixels")
    parser.add_argument("--val-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resample", choices=sorted(_RESAMPLE), default="bicubic")
    args = parser.parse_args(argv)
    counts = export_digits(
        args.root,
        size=args.size,
        val_fraction=args.val_fraction,
        seed=args.seed,
        resample=args.resample,
    )
    print(f"digits in {args.root}: {counts}")
    return counts


if __name__ == "__main__":
    main()
