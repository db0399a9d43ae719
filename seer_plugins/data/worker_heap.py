"""A data loader worker's start-up objects, kept out of the garbage collector's scans.

A worker starts with every object of torch, VISSL, the config and its dataset
(~10^5 or more). Python's cyclic collector scans all of them in each full
collection, and a source that creates many small objects per sample (a tar
shard's members, webdataset's dicts) triggers full collections often: measured on
`benchmarks/multicrop_throughput.py`'s images, about 2% of a tar-shard worker's
time. `gc.freeze()` at the worker's start moves them to a generation the collector
never scans (they live as long as the worker anyway); what the worker creates is
collected as before.
"""

import gc


class FreezeStartupObjects:
    """A picklable `worker_init_fn`: runs `inner`, then freezes the objects the
    worker holds at that point."""

    def __init__(self, inner=None):
        self.inner = inner

    def __call__(self, worker_id: int) -> None:
        if self.inner is not None:
            self.inner(worker_id)
        gc.collect()
        gc.freeze()
