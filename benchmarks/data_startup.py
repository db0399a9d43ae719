"""Start-up of one training process's data path: disk_folder, disk_filelist, seer_shards.

    python benchmarks/data_startup.py --json data_startup.json --plot data_startup.png
    python benchmarks/data_startup.py --sizes 10000,100000   # fewer sizes
    python benchmarks/data_startup.py --no-labels --json no_labels.json
    python benchmarks/data_startup.py --dry-run              # 1000 images, a minute

For each size (10^4, 10^5, 10^6 images by default) and source, a fresh process
builds the dataset and data loader as `seer train config=pretrain/seer_1b` does
(the task's `build_datasets`, `build_dataloaders`, `set_epoch`; one gloo process
group; batch 32; `NUM_DATALOADER_WORKERS=0`, so all the work is in the measured
process) and takes the first batch. Reported: seconds until that batch, and the
peak resident memory above the process's memory just before (VmHWM, reset there),
in MB and bytes per image. Each measurement runs twice and the second (warm: the
folder's directory entries and the files in the page cache, which cannot be
dropped without root) is reported. A linear fit over the sizes extrapolates each
source to 10^9 images; its slope is the cost per image (a row's bytes per image
also carries the ~12 MB every first batch costs: torch's kernels paged in, heap).

seer_1b's label source is kept (SwAV ignores labels, `LABEL_TYPE: sample_index`,
but VISSL loads them): a folder's classes; for a .npy list, the list itself
(LABEL_PATHS follows DATA_PATHS), numbered as strings. `--no-labels` sets
`LABEL_SOURCES=[]` for every source instead.

The images (every one the same 64x64 JPEG, named like ImageNet's), their file list
(`filelist.npy` of absolute paths, memory-mapped: `MMAP_MODE: True`) and their
shards (`seer shards --per-shard 10000`) are written once under `--data` and reused;
a size whose `complete` marker is missing is written again.
"""

import argparse
import gc
import io
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]
SOURCES = ("disk_folder", "disk_filelist", "seer_shards")
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
DRY_RUN_SIZE = 1000
# The dry run's symlinked shards: 1000 links to its one shard.
DRY_RUN_LINKED = 10**6
PER_SHARD = 10_000
BATCH = 32
EXTRAPOLATE_TO = 10**9
RESULT_TAG = "RESULT "


# -- the data ------------------------------------------------------------------


def _jpeg_bytes() -> bytes:
    """One small JPEG: start-up depends on how many files there are, not on them."""
    import numpy as np
    from PIL import Image

    ramp = np.linspace(0, 255, 64, dtype=np.uint8)
    pixels = np.stack(np.broadcast_arrays(ramp[:, None], ramp[None, :], 128), -1)
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _classes(images: int) -> list[str]:
    """ImageNet-like synset names: 1000 classes, fewer for small sets."""
    count = 10 if images <= 1000 else 100 if images <= 10_000 else 1000
    return [f"n{1440764 + 7919 * k:08d}" for k in range(count)]


def _class_files(images: int) -> list[tuple[str, range]]:
    """(class, image numbers) with the images dealt out evenly."""
    classes = _classes(images)
    per, extra = divmod(images, len(classes))
    jobs, first = [], 0
    for k, name in enumerate(classes):
        count = per + (k < extra)
        jobs.append((name, range(first, first + count)))
        first += count
    return jobs


def _write_class(job: tuple) -> int:
    folder, name, numbers, data = job
    target = Path(folder) / name
    target.mkdir(parents=True, exist_ok=True)
    for i in numbers:
        (target / f"{name}_{i}.JPEG").write_bytes(data)
    return len(numbers)


def _write_images(folder: Path, images: int) -> list[str]:
    """The class folders, written in parallel (a million files take minutes)."""
    from tqdm import tqdm

    data = _jpeg_bytes()
    jobs = [(str(folder), name, nums, data) for name, nums in _class_files(images)]
    with (
        tqdm(total=images, unit="img", desc=f"images {images}") as bar,
        ProcessPoolExecutor(os.cpu_count() or 1) as pool,
    ):
        for written in pool.map(_write_class, jobs, chunksize=8):
            bar.update(written)
    return [
        str(folder / name / f"{name}_{i}.JPEG")
        for name, numbers in _class_files(images)
        for i in numbers
    ]


def _write_filelist(path: Path, files: list[str]) -> None:
    """VISSL's disk_filelist format: a .npy of path strings (fixed-width unicode,
    so that `MMAP_MODE` maps it instead of unpickling objects)."""
    import numpy as np

    np.save(path, np.array(sorted(files)))


def _pack_shards(images: Path, shards: Path) -> None:
    """`seer shards`, as a user packs a folder (its own progress bar)."""
    subprocess.run(
        [sys.executable, "-m", "seer_plugins", "shards", str(images), str(shards)]
        + ["--per-shard", str(PER_SHARD)],
        check=True,
        env=_child_env(),
    )


def ensure_data(root: Path, images: int) -> Path:
    """The folder, list and shards of `images` images under `root`, written
    unless a previous run completed them."""
    where = root / str(images)
    marker = where / "complete"
    if marker.is_file():
        return where
    if where.exists():  # a run stopped half-way: start the size again
        shutil.rmtree(where)
    started = time.monotonic()
    files = _write_images(where / "images", images)
    _write_filelist(where / "filelist.npy", files)
    _pack_shards(where / "images", where / "shards")
    marker.write_text(
        f"{images} images, written in {time.monotonic() - started:.0f} s\n"
    )
    return where


def ensure_symlinked_shards(root: Path, base: int, images: int) -> None:
    """Shards of `images` samples without writing them: links, in turn, to the
    `base` set's shards, and an index that counts them. Only the first batch's
    shards are read, so this measures at 10^9 what the fit extrapolates for
    seer_shards: the list and index of 10^5 shards, an order over 10^9 samples."""
    where = root / str(images) / "shards"
    if (where.parent / "complete").is_file():
        return
    if where.parent.exists():
        shutil.rmtree(where.parent)
    sys.path.insert(0, str(_REPO))
    from seer_plugins.data.shard_lists import (
        INDEX_NAME,
        ShardIndex,
        read_index,
        write_index,
    )

    real = root / str(base) / "shards"
    index = read_index(str(real / INDEX_NAME), "index")
    where.mkdir(parents=True)
    links, counts = [], []
    while sum(counts) < images:
        shard = len(links) % len(index.shards)
        links.append(f"{len(links):06d}.tar")
        counts.append(index.counts[shard])
        (where / links[-1]).symlink_to(real / index.shards[shard])
    linked = ShardIndex(
        shards=links, counts=counts, classes=index.classes, path=str(where / INDEX_NAME)
    )
    write_index(linked, str(where / INDEX_NAME))
    (where.parent / "complete").write_text(f"{len(links)} links to {real}\n")


def data_path(where: Path, source: str) -> Path:
    return {
        "disk_folder": where / "images",
        "disk_filelist": where / "filelist.npy",
        "seer_shards": where / "shards",
    }[source]


# -- one measurement, in its own process ------------------------------------------


def _child_env() -> dict:
    """A checkout runs without `pip install -e .`: the repository on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(_REPO), env.get("PYTHONPATH")])
    )
    return env


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def _reset_peak() -> None:
    """Make VmHWM (and ru_maxrss) the current RSS: the imports' and the config's own
    peaks must not hide the data path's (Linux >= 4.0, no privileges needed)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _tiny_crops() -> list[int]:
    """seer_tiny's crop sizes: a first batch of ~1 MB instead of seer_1b's ~100 MB
    of 224 px crops, so the memory measured is the data source's."""
    import yaml

    tiny = yaml.safe_load((_REPO / "configs/pretrain/seer_tiny.yaml").read_text())
    return tiny["config"]["DATA"]["TRAIN"]["TRANSFORMS"][0]["size_crops"]


def _overrides(source: str, path: Path, labels: bool) -> list[str]:
    """seer_1b's data config in one CPU process: the per-process costs of the
    recipe itself (its label source, MMAP_MODE, sampler, transforms but for the
    crops' size)."""
    crops = ",".join(map(str, _tiny_crops()))
    return [
        "config=pretrain/seer_1b",
        f"config.DATA.TRAIN.TRANSFORMS.0.size_crops=[{crops}]",
        "config.MACHINE.DEVICE=cpu",
        "config.DISTRIBUTED.BACKEND=gloo",
        "config.DISTRIBUTED.NUM_NODES=1",
        "config.DISTRIBUTED.NUM_PROC_PER_NODE=1",
        "config.DATA.NUM_DATALOADER_WORKERS=0",
        f"config.DATA.TRAIN.BATCHSIZE_PER_REPLICA={BATCH}",
        f"config.DATA.TRAIN.DATA_SOURCES=[{source}]",
        f"config.DATA.TRAIN.DATA_PATHS=[{path}]",
        "config.DATA.TRAIN.MMAP_MODE=True",  # seer_1b's own: the file list's lever
        "config.CHECKPOINT.DIR=/tmp/seer_bench_startup_checkpoints",
        *([] if labels else ["config.DATA.TRAIN.LABEL_SOURCES=[]"]),
    ]


def _one_process_group() -> None:
    """Training runs in a process group even on one process; VISSL's sampler (a
    permutation of every index) exists only then."""
    import socket

    import torch.distributed as dist

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1
    )


def measure_one(source: str, images: int, root: Path, labels: bool) -> dict:
    """Seconds and peak RSS from an empty task to its first batch."""
    import seer_plugins  # first: its shims go in before VISSL is imported

    # isort: split
    from vissl.trainer.trainer_main import build_task

    rss_imports = _status_kb("VmRSS")
    path = data_path(root / str(images), source)
    config = seer_plugins.compose(_overrides(source, path, labels))
    _one_process_group()
    task = build_task(config)
    gc.collect()
    _reset_peak()
    baseline = _status_kb("VmRSS")
    file_baseline = _status_kb("RssFile")
    started = time.perf_counter()
    task.datasets, task.data_and_label_keys = task.build_datasets()
    dataset_s = time.perf_counter() - started
    peak_dataset = _status_kb("VmHWM")
    task.dataloaders = task.build_dataloaders(pin_memory=False)
    task.set_epoch("train", 0, 0, 0)
    loader_s = time.perf_counter() - started - dataset_s
    peak_loader = _status_kb("VmHWM")
    batch = next(iter(task.dataloaders["train"]))
    seconds = time.perf_counter() - started
    peak = _status_kb("VmHWM")
    file_pages = _status_kb("RssFile") - file_baseline
    assert len(batch["data"][0][0]) == BATCH, "the first batch is not a full batch"
    return {
        "source": source,
        "images": images,
        "seconds": seconds,
        "dataset_s": dataset_s,
        "loader_s": loader_s,
        "first_batch_s": seconds - dataset_s - loader_s,
        "rss_imports_mb": rss_imports / 1024,
        "rss_baseline_mb": baseline / 1024,
        "rss_peak_mb": peak / 1024,
        "above_baseline_mb": (peak - baseline) / 1024,
        # where the peak was reached: the dataset, its loader, or the first batch
        # (VISSL's sampler permutes every index there; labels are loaded there)
        "above_baseline_after_dataset_mb": (peak_dataset - baseline) / 1024,
        "above_baseline_after_loader_mb": (peak_loader - baseline) / 1024,
        "bytes_per_image": (peak - baseline) * 1024 / images,
        # Of the RSS at the first batch, mapped file pages: shared libraries loaded
        # on first use, and a memory-mapped file list (page cache, shared by the
        # processes of a node; the disk's read-ahead maps megabytes per fault).
        "file_backed_mb": file_pages / 1024,
        "label_sources": list(config.DATA.TRAIN.LABEL_SOURCES),
    }


def run_one(source: str, images: int, root: Path, labels: bool) -> dict:
    """measure_one in a fresh interpreter: RSS is per process."""
    command = [sys.executable, __file__, "--one", source, str(images)]
    command += ["--data", str(root), *([] if labels else ["--no-labels"])]
    proc = subprocess.run(command, capture_output=True, text=True, env=_child_env())
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG) :])
    sys.exit(
        f"error: --one {source} {images} failed (exit {proc.returncode}):\n"
        + proc.stderr[-4000:]
    )


# -- the report -------------------------------------------------------------------


def fit(rows: list[dict], key: str) -> tuple[float, float] | None:
    """(a, b) of key = a + b * images by least squares; None below two sizes.
    A negative slope is noise (nothing shrinks with more images): taken as 0."""
    import numpy as np

    sizes = sorted({r["images"] for r in rows})
    if len(sizes) < 2:
        return None
    b, a = np.polyfit([r["images"] for r in rows], [r[key] for r in rows], 1)
    b = max(float(b), 0.0)
    return float(np.mean([r[key] - b * r["images"] for r in rows])), b


def extrapolations(results: list[dict]) -> dict:
    out = {}
    for source in SOURCES:
        rows = [r for r in results if r["source"] == source]
        time_fit, rss_fit = fit(rows, "seconds"), fit(rows, "above_baseline_mb")
        if time_fit is None:
            continue
        out[source] = {
            "seconds_fit": time_fit,
            "above_baseline_mb_fit": rss_fit,
            "bytes_per_image_slope": rss_fit[1] * 2**20,
            "hours_at_1e9": (time_fit[0] + time_fit[1] * EXTRAPOLATE_TO) / 3600,
            "gb_at_1e9": (rss_fit[0] + rss_fit[1] * EXTRAPOLATE_TO) / 1024,
        }
    return out


def print_table(results: list[dict], extrapolated: dict, check: dict) -> None:
    print(
        "\nwarm start-up (second of two runs each), seer_1b data config, "
        f"batch {BATCH}, 0 workers, 1 gloo process"
    )
    header = (
        f"{'source':<14}{'labels':<14}{'images':>10}{'s to batch':>11}"
        f"{'dataset s':>10}{'MB above':>10}{'B/image':>9}{'file MB':>9}"
    )
    print(header + "\n" + "-" * len(header))
    for r in results:
        labels = ",".join(r["label_sources"]) or "-"
        print(
            f"{r['source']:<14}{labels:<14}{r['images']:>10,}{r['seconds']:>11.2f}"
            f"{r['dataset_s']:>10.2f}{r['above_baseline_mb']:>10.1f}"
            f"{r['bytes_per_image']:>9.0f}{r['file_backed_mb']:>9.1f}"
        )
    for source, e in extrapolated.items():
        print(
            f"{source:<14}at 10^9: ~{e['hours_at_1e9']:.2f} h, "
            f"~{e['gb_at_1e9']:.1f} GB per process "
            f"(fit: {e['bytes_per_image_slope']:.0f} B/image, "
            f"{e['seconds_fit'][1] * 1e6:.2f} s per 10^6 images)"
        )
    print(
        f"seer_shards   measured at {check['images']:,} (symlinked shards): "
        f"{check['seconds']:.2f} s, {check['above_baseline_mb'] / 1024:.2f} GB above "
        f"baseline (dataset {check['dataset_s']:.2f} s, "
        f"{check['above_baseline_after_dataset_mb']:.0f} MB; loader "
        f"{check['loader_s']:.2f} s, {check['above_baseline_after_loader_mb']:.0f} MB)"
    )


def plot(results: list[dict], extrapolated: dict, check: dict, path: str) -> None:
    """Log-log time and RSS against images; dashed: the fits out to 10^9; a star:
    seer_shards measured on symlinked shards."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    panels = [
        ("seconds", "seconds_fit", "s to first batch"),
        ("above_baseline_mb", "above_baseline_mb_fit", "peak MB above baseline"),
    ]
    for ax, (key, fit_key, label) in zip(axes, panels, strict=True):
        for source in SOURCES:
            rows = sorted(
                (r for r in results if r["source"] == source), key=lambda r: r["images"]
            )
            line = ax.plot(
                [r["images"] for r in rows], [r[key] for r in rows], "o-", label=source
            )[0]
            if source in extrapolated:
                a, b = extrapolated[source][fit_key]
                n = np.logspace(np.log10(rows[-1]["images"]), 9, 20)
                ax.plot(n, a + b * n, "--", color=line.get_color())
            if source == check["source"]:
                ax.plot(check["images"], check[key], "*", ms=12, color=line.get_color())
        ax.set(xscale="log", yscale="log", xlabel="images", ylabel=label)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend()
    fig.suptitle(
        "data start-up per training process (dashed: linear fit to 10^9; "
        "star: seer_shards on symlinked shards)"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"plot: {path}")


# -- the command --------------------------------------------------------------------


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="/tmp/seer_bench_data", help="data cache")
    parser.add_argument(
        "--sizes",
        default=",".join(map(str, DEFAULT_SIZES)),
        help="comma-separated image counts",
    )
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--plot", help="write the log-log plot here (.png)")
    parser.add_argument(
        "--dry-run", action="store_true", help=f"{DRY_RUN_SIZE} images, to try it"
    )
    parser.add_argument(
        "--no-labels",
        action="store_true",
        help="LABEL_SOURCES=[] for every source (SwAV reads no labels; seer_1b's "
        "label source reads a folder's classes, and a .npy list's own entries)",
    )
    parser.add_argument(
        "--one", nargs=2, metavar=("SOURCE", "N"), help=argparse.SUPPRESS
    )
    return parser.parse_args()


def warm_run(source: str, images: int, root: Path, labels: bool) -> dict:
    """The second of two runs: the first fills the page cache."""
    cold = run_one(source, images, root, labels)
    warm = run_one(source, images, root, labels)
    warm["cold_seconds"] = cold["seconds"]
    print(
        f"{source} {images}: {warm['seconds']:.2f} s (cold {cold['seconds']:.2f} s), "
        f"{warm['above_baseline_mb']:.1f} MB above baseline",
        flush=True,
    )
    return warm


def main() -> None:
    args = _parse()
    root = Path(args.data)
    labels = not args.no_labels
    if args.one:
        source, images = args.one[0], int(args.one[1])
        result = measure_one(source, images, root, labels)
        print(RESULT_TAG + json.dumps(result), flush=True)
        return
    sizes = [DRY_RUN_SIZE] if args.dry_run else [int(s) for s in args.sizes.split(",")]
    linked = DRY_RUN_LINKED if args.dry_run else EXTRAPOLATE_TO
    for images in sizes:
        ensure_data(root, images)
    ensure_symlinked_shards(root, max(sizes), linked)
    results = [
        warm_run(source, images, root, labels) for images in sizes for source in SOURCES
    ]
    check = warm_run("seer_shards", linked, root, labels)
    extrapolated = extrapolations(results)
    print_table(results, extrapolated, check)
    if args.json:
        report = {"results": results, "at_1e9": extrapolated, "symlinked": check}
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    if args.plot:
        plot(results, extrapolated, check, args.plot)


if __name__ == "__main__":
    main()
