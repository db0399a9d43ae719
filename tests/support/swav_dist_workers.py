"""Worker functions for tests that spawn gloo processes (importable by name in the
children, which a pytest-collected test module is not)."""

import torch
import torch.distributed as dist


def sinkhorn_and_loss_worker(rank, world_size, port, inputs, out_dir):
    """Sinkhorn codes and the SwAV loss on this rank's shard of `inputs`.

    `inputs["scores"]`: (num_crops, B, K) crop-major scores of the whole batch;
    rank r takes samples [r * B / world_size, (r + 1) * B / world_size).
    """
    from seer_plugins.losses import SeerSwAVCriterion, sinkhorn_knopp

    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=world_size,
    )
    try:
        scores = inputs["scores"]
        num_crops, batch, _ = scores.shape
        shard = batch // world_size
        local = scores[:, rank * shard : (rank + 1) * shard]
        codes = sinkhorn_knopp(local[0], inputs["epsilon"], inputs["num_iters"])
        criterion = SeerSwAVCriterion(
            num_crops=num_crops,
            crops_for_assign=[0, 1],
            num_prototypes=[scores.shape[-1]],
            embedding_dim=8,
            epsilon=inputs["epsilon"],
            num_iters=inputs["num_iters"],
        )
        flat = local.reshape(num_crops * shard, -1)
        loss = criterion(torch.zeros(flat.shape[0], 8), [flat])
        torch.save({"codes": codes, "loss": loss}, f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()
