"""Data loader workers' CPU time per image, tar shards against a folder, in lockstep.

    python benchmarks/multicrop_cpu.py --json multicrop_cpu.json   # ~8 min
    python benchmarks/multicrop_cpu.py --dry-run                   # 128 images

`multicrop_throughput.py` times each source alone, one after the other: on a shared
machine whose speed drifts by 10-20% over minutes, that measures the drift as much
as the sources. Here three data loaders of seer_1b's multi-crop pipeline (built as
`multicrop_throughput.py` builds them, on its data: the shards and a folder of the
same files numbered as the shards number them, so each image gets the same
augmentations from either) run at once in one process, one worker each, a batch
taken from each in turn, so that the machine's drift hits all three alike:
`disk_folder`, `seer_shards`, and `disk_folder` again: the control, whose ratio to
the first is what equal sources measure (the noise floor: the workers share two
cores, their caches and the machine's neighbours unevenly).

Once an epoch's last batch is in, each worker's CPU seconds (user + system, from
/proc) give its images per CPU-second: img/s per core. Its minor page faults an
image say how much fresh memory it touched: about 400 of them are the batch's own
shared-memory pages (32 x 1.65 MB of crops, for any source), so a source that
churns memory shows above that. Epoch 0 warms up (the fork
server, the page cache); the epochs after it are reported, and the ratios to the
folder per epoch, their mean and range. Last, the cost of reading alone: every
sample of the shards through webdataset (no decoding) against every file of the
folder, in CPU ms an image, best of 5.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

from multicrop_throughput import (
    BATCH,
    _one_process_group,
    _overrides,
    ensure_data,
    folder_in_shard_order,
    read_once,
)

# (name, data source)
VARIANTS = (
    ("disk_folder", "disk_folder"),
    ("seer_shards", "seer_shards"),
    ("disk_folder (control)", "disk_folder"),
)
_TICK = os.sysconf("SC_CLK_TCK")


def worker_usage(pid: int) -> tuple[float, int]:
    """User + system CPU seconds and minor page faults of a live process (Linux
    /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK, int(fields[7])


def build_loaders(where: Path) -> dict:
    """{variant: the training data loader `seer train` builds}, one worker each."""
    import seer_plugins  # first: its shims go in before VISSL is imported

    # isort: split
    from vissl.trainer.trainer_main import build_task

    from seer_plugins.trainer.task import _torch_loader

    loaders = {}
    for name, source in VARIANTS:
        path = where / ("in_shard_order" if source == "disk_folder" else "shards")
        task = build_task(seer_plugins.compose(_overrides(source, path, 1)))
        if not loaders:
            _one_process_group()
        task.datasets, task.data_and_label_keys = task.build_datasets()
        task.dataloaders = task.build_dataloaders(pin_memory=False)
        loader = _torch_loader(task.dataloaders["train"])
        loaders[name] = (task, loader)
    return loaders


def lockstep_epoch(loaders: dict, epoch: int) -> tuple[dict, dict]:
    """({variant: img per worker CPU-second}, {variant: the workers' minor page
    faults an image}) over one epoch run in lockstep."""
    iterators, batches = {}, {}
    for name, (task, loader) in loaders.items():
        task.set_epoch("train", epoch, 0, 0)
        iterators[name], batches[name] = iter(loader), len(loader)
    names = list(loaders)
    for k in range(max(batches.values())):
        for name in names if k % 2 == 0 else names[::-1]:  # none always first
            if k < batches[name]:
                next(iterators[name])
    rates, faults = {}, {}
    for name, iterator in iterators.items():
        # torch's private list of the iterator's workers: alive until it is dropped.
        usage = [worker_usage(w.pid) for w in iterator._workers]
        rates[name] = batches[name] * BATCH / sum(cpu for cpu, _ in usage)
        faults[name] = sum(f for _, f in usage) / (batches[name] * BATCH)
    return rates, faults


def reading_ms(where: Path, repeats: int = 5) -> dict:
    """CPU ms an image to read the shards' samples (webdataset's tar reading, no
    decoding) and the folder's files, best of `repeats`."""
    from seer_plugins.data.shard_reader import open_samples

    shards = sorted((where / "shards").glob("*.tar"))
    files = sorted((where / "in_shard_order").rglob("*.JPEG"))
    best = {"seer_shards": float("inf"), "disk_folder": float("inf")}
    for _ in range(repeats):
        started = time.thread_time()
        samples = sum(1 for shard in shards for _ in open_samples(str(shard)))
        took = (time.thread_time() - started) * 1e3 / samples
        best["seer_shards"] = min(best["seer_shards"], took)
        started = time.thread_time()
        for path in files:
            path.read_bytes()
        took = (time.thread_time() - started) * 1e3 / len(files)
        best["disk_folder"] = min(best["disk_folder"], took)
    return best


def summary(epochs: list[dict]) -> dict:
    """Per variant: the ratio to the folder per epoch, its mean and range."""
    out = {}
    for name, _ in VARIANTS[1:]:
        ratios = [e[name] / e["disk_folder"] for e in epochs]
        out[name] = {
            "ratios": ratios,
            "mean": sum(ratios) / len(ratios),
            "min": min(ratios),
            "max": max(ratios),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="/tmp/seer_bench_multicrop", help="cache")
    parser.add_argument("--images", type=int, default=2000, help="JPEGs (2000)")
    parser.add_argument("--epochs", type=int, default=3, help="after a warm-up (3)")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--dry-run", action="store_true", help="128 images, 1 epoch")
    args = parser.parse_args()
    if args.dry_run:
        args.images, args.epochs = 4 * BATCH, 1
    where = ensure_data(Path(args.data), args.images)
    folder_in_shard_order(where)
    read_once(where)
    loaders = build_loaders(where)
    lockstep_epoch(loaders, 0)
    epochs, faults = [], []
    for epoch in range(1, args.epochs + 1):
        started = time.perf_counter()
        rates, faulted = lockstep_epoch(loaders, epoch)
        epochs.append(rates)
        faults.append(faulted)
        cells = ", ".join(f"{n} {r:.2f}" for n, r in rates.items())
        per_image = ", ".join(f"{n} {f:.0f}" for n, f in faulted.items())
        print(
            f"epoch {epoch} ({time.perf_counter() - started:.0f} s): img per worker "
            f"CPU-second: {cells}; minor page faults an image: {per_image}",
            flush=True,
        )
    ratios = summary(epochs)
    print(f"\n{args.images} JPEGs, seer_1b multi-crop, batch {BATCH}, 1 worker each")
    for name, r in ratios.items():
        each = ", ".join(f"{x:.3f}" for x in r["ratios"])
        print(
            f"{name} / disk_folder: mean {r['mean']:.3f} "
            f"(range {r['min']:.3f}-{r['max']:.3f}; per epoch {each})"
        )
    reading = reading_ms(where)
    print(
        f"reading alone, CPU ms an image: seer_shards {reading['seer_shards']:.3f}, "
        f"disk_folder {reading['disk_folder']:.3f}"
    )
    if args.json:
        report = {"images": args.images, "epochs": epochs, "ratios": ratios}
        report["minor_faults_per_image"] = faults
        report["reading_ms"] = reading
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
