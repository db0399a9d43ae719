"""`--sinkhorn`: Sinkhorn-Knopp at SEER's size, ours against VISSL's.

SEER assigns each of the 2 large crops' B scores over 16,000 prototypes with 10
iterations (epsilon 0.05) per step. Both versions are timed on the same cosine
scores, from the scores to the codes: ours (`seer_plugins.losses.sinkhorn`: no
host sync) and VISSL's (`swav_loss`'s scaling, max shift and exp, then
`distributed_sinkhornknopp`, which checks for infs and zero sums with
`torch.nonzero` on the host every iteration).
"""

import statistics
import time

import torch
import torch.nn.functional as F

from seer_plugins.losses.sinkhorn import sinkhorn_knopp
from seer_plugins.trainer.host_syncs import HostSyncCounter


def cosine_scores(rows: int, prototypes: int, dim: int, device, seed: int = 0):
    """(rows, prototypes) scores of unit embeddings against unit prototypes."""
    generator = torch.Generator().manual_seed(seed)
    z = F.normalize(torch.randn(rows, dim, generator=generator), dim=1)
    c = F.normalize(torch.randn(prototypes, dim, generator=generator), dim=1)
    return (z @ c.t()).to(device)


def _vissl_codes(scores, epsilon, num_iters):
    from vissl.losses.distibuted_sinkhornknopp import distributed_sinkhornknopp

    assignments = scores / epsilon
    assignments -= assignments.max()
    return distributed_sinkhornknopp(
        Q=torch.exp(assignments).t(),
        num_iter=num_iters,
        hard_assignment=False,
        world_size=1,
        use_double_prec=False,
        use_gpu=scores.is_cuda,
    )


def _ours_codes(scores, epsilon, num_iters):
    return sinkhorn_knopp(scores, epsilon, num_iters, distributed=False)


def _time(fn, scores, repeats: int, warmup: int) -> tuple[float, HostSyncCounter]:
    def sync():
        if scores.is_cuda:
            torch.cuda.synchronize(scores.device)

    for _ in range(warmup):
        fn(scores.clone())
    times = []
    for _ in range(repeats):
        x = scores.clone()
        sync()
        start = time.perf_counter()
        fn(x)
        sync()
        times.append(1e3 * (time.perf_counter() - start))
    counter = HostSyncCounter()
    counter.start()
    fn(scores.clone())
    counter.stop()
    return statistics.median(times), counter


def run_sinkhorn(
    rows: int,
    prototypes: int,
    num_iters: int,
    epsilon: float,
    device: str,
    repeats: int = 20,
    warmup: int = 3,
) -> dict:
    """Median ms per call of each version, their host syncs, and agreement."""
    scores = cosine_scores(rows, prototypes, 256, device)
    report = {"rows": rows, "prototypes": prototypes, "num_iters": num_iters}
    report["epsilon"] = epsilon
    codes = {}
    for name, fn in (("ours", _ours_codes), ("vissl", _vissl_codes)):
        ms, counter = _time(
            lambda x, fn=fn: fn(x, epsilon, num_iters), scores, repeats, warmup
        )
        report[f"{name}_ms"] = ms
        report[f"{name}_host_syncs"] = counter.total if counter.supported else None
        codes[name] = fn(scores.clone(), epsilon, num_iters).float()
    # Both return (rows, prototypes) codes, each row summing to 1.
    ours, vissl = codes["ours"], codes["vissl"]
    report["max_abs_difference"] = (ours - vissl).abs().max().item()
    return report


def format_sinkhorn(report: dict) -> str:
    def syncs(value):
        return "-" if value is None else str(value)

    return "\n".join(
        [
            f"Sinkhorn {report['rows']} x {report['prototypes']}, "
            f"{report['num_iters']} iterations, epsilon {report['epsilon']}",
            f"{'version':<8} {'ms/call':>9} {'host syncs':>11}",
            f"{'ours':<8} {report['ours_ms']:>9.3f} {syncs(report['ours_host_syncs']):>11}",
            f"{'vissl':<8} {report['vissl_ms']:>9.3f} "
            f"{syncs(report['vissl_host_syncs']):>11}",
            f"max |codes ours - vissl|: {report['max_abs_difference']:.2e}",
        ]
    )
