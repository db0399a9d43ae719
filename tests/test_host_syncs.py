"""Host synchronisations: counted per source line on CUDA, and none in LARC's step."""

import logging

import torch
from gpu import needs_gpu

from seer_plugins.hooks.throughput import SeerThroughputHook
from seer_plugins.optimizers.larc import LARCSGD
from seer_plugins.trainer.host_syncs import HostSyncCounter, count_host_syncs


def test_nothing_to_count_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with count_host_syncs() as counter:
        torch.ones(3).sum().item()
    assert not counter.supported and counter.total == 0
    assert counter.summary() == "not counted (no CUDA)"


class _Task:
    train = True
    iteration = 0


def test_throughput_hook_counts_one_iteration(monkeypatch, caplog):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    hook = SeerThroughputHook(8, log_frequency=100, count_host_syncs_at=2)
    task = _Task()
    with caplog.at_level(logging.INFO):
        for task.iteration in range(1, 5):
            hook.on_step(task)
    assert [r.getMessage() for r in caplog.records if "host syncs" in r.message] == [
        "host syncs in one iteration: not counted (no CUDA)"
    ]


@needs_gpu
def test_counts_synchronising_calls_by_line():
    x = torch.ones(3, device="cuda")
    with count_host_syncs() as counter:
        x.sum().item()
        float(x[0])
        y = x * 2  # queued, no sync
    assert counter.total == 2, counter.summary()
    assert all("test_host_syncs.py:" in site for site in counter.sites)
    assert y.is_cuda


@needs_gpu
def test_larc_step_does_not_wait_for_the_gpu():
    params = [torch.nn.Parameter(torch.randn(64, 32, device="cuda")) for _ in range(4)]
    params.append(torch.nn.Parameter(torch.zeros(32, device="cuda")))  # zero norm
    optimizer = LARCSGD(params, lr=0.1, momentum=0.9, weight_decay=1e-4)
    for p in params:
        p.grad = torch.randn_like(p)
    optimizer.step()  # first step creates the momentum buffers
    counter = HostSyncCounter()
    counter.start()
    optimizer.step()
    counter.stop()
    assert counter.total == 0, counter.summary()
