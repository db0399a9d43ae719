"""SwAV's swapped prediction over multi-crop outputs: plain math, no config.

`SeerSwAVCriterion` takes the head's outputs (the L2-normalised embeddings and one
score matrix per prototype head, all crops of a batch stacked crop-major) and
returns the SwAV loss: for every crop used for assignment, Sinkhorn codes of that
crop are predicted from every other crop. Numbers match VISSL's `SwAVCriterion`
(same averaging over crops, assignment crops and prototype heads); it also runs on
CPU and under fp16/bf16 autocast (see :mod:`seer_plugins.losses.sinkhorn`).

The optional queue stores past embeddings of the assignment crops. It feeds only
Sinkhorn (more samples for an equal partition when the batch is small), never the
predicted side. It is filled from `queue_start_iter` on, and only its filled part
is used, so it never injects random vectors into the codes.

The keyword defaults are the config keys' (configs/defaults/swav.yaml), so a
criterion built in a test or a notebook is the one a default config builds.
"""

import logging
import math
import os
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from seer_plugins.config.defaults import plugin_default
from seer_plugins.errors import ConfigError
from seer_plugins.losses.sinkhorn import sinkhorn_knopp

# The keys of `LOSS.seer_swav_loss` and their defaults.
DEFAULTS = plugin_default("LOSS.seer_swav_loss")


def check_crops_for_assign(
    crops_for_assign: Sequence[int], num_crops: int, key: str = "crops_for_assign"
) -> None:
    """SwAV needs two crops or more, and codes from some of them.

    Raises:
        ValueError naming `key` (the config key at compose time).
    """
    if num_crops < 2:
        raise ConfigError("num_crops", num_crops, "SwAV needs at least 2 crops")
    crops = list(crops_for_assign)
    if not crops or not all(0 <= c < num_crops for c in crops):
        raise ConfigError(
            key, crops, "must be non-empty crop indices", f"in [0, {num_crops})"
        )


class SeerSwAVCriterion(nn.Module):
    """The SwAV loss for one batch of multi-crop outputs.

    Args:
        num_crops: crops per image (all resolutions together).
        crops_for_assign: indices of the crops whose codes are predicted.
        num_prototypes: prototypes per prototype head, e.g. `[3000]`.
        embedding_dim: dimension of the embeddings (used by the queue).
        temperature: softmax temperature tau of the predictions.
        epsilon: Sinkhorn's entropic regularisation.
        num_iters: Sinkhorn iterations.
        use_double_precision: Sinkhorn and log-softmax in float64 instead of float32.
        temp_hard_assignment_iters: one-hot codes for the first iterations.
        local_queue_length: embeddings kept per assignment crop on this process
            (0: no queue).
        queue_start_iter: first iteration that fills and uses the queue.
        output_dir: where scores are dumped if the loss is not finite (None: no dump).
    """

    def __init__(
        self,
        *,
        num_crops: int,
        crops_for_assign: Sequence[int],
        num_prototypes: Sequence[int],
        embedding_dim: int,
        temperature: float = DEFAULTS["temperature"],
        epsilon: float = DEFAULTS["epsilon"],
        num_iters: int = DEFAULTS["num_iters"],
        use_double_precision: bool = DEFAULTS["use_double_precision"],
        temp_hard_assignment_iters: int = DEFAULTS["temp_hard_assignment_iters"],
        # No queue by default: this process's share of the default global length.
        local_queue_length: int = DEFAULTS["queue"]["queue_length"],
        queue_start_iter: int = DEFAULTS["queue"]["start_iter"],
        output_dir: str | None = None,
    ):
        super().__init__()
        crops_for_assign = list(crops_for_assign)
        check_crops_for_assign(crops_for_assign, num_crops)
        self.num_crops = num_crops
        self.crops_for_assign = crops_for_assign
        self.num_prototypes = [int(k) for k in num_prototypes]
        self.embedding_dim = embedding_dim
        self.temperature = temperature
        self.epsilon = epsilon
        self.num_iters = num_iters
        self.dtype = torch.float64 if use_double_precision else torch.float32
        self.temp_hard_assignment_iters = temp_hard_assignment_iters
        self.local_queue_length = local_queue_length
        self.queue_start_iter = queue_start_iter
        self.output_dir = output_dir

        # Counters live as Python ints (no device synchronisation per step) and are
        # mirrored into buffers so that checkpoints save and restore them.
        self._iteration = 0
        self._filled = 0
        self.register_buffer("num_iteration", torch.zeros((), dtype=torch.long))
        if local_queue_length > 0:
            # Newest first: rows [0, queue_filled) hold real embeddings.
            self.register_buffer(
                "queue_embeddings",
                torch.zeros(len(crops_for_assign), local_queue_length, embedding_dim),
            )
            self.register_buffer("queue_filled", torch.zeros((), dtype=torch.long))
        # Scores of the queued embeddings against the current prototypes, one
        # (assign crops, filled, K) tensor per head, set by `refresh_queue_scores`
        # after each forward (the prototypes change every step).
        self._queue_scores: list[torch.Tensor] = []
        self._queue_scores_iteration = -1
        self.register_load_state_dict_post_hook(_read_counters)

    @property
    def has_queue(self) -> bool:
        return self.local_queue_length > 0

    @property
    def queue_active(self) -> bool:
        """True from `queue_start_iter` on: the queue is filled and used."""
        return self.has_queue and self._iteration >= self.queue_start_iter

    @torch.no_grad()
    def refresh_queue_scores(self, prototype_weights: Sequence[torch.Tensor]) -> None:
        """Score the queued embeddings against the current prototypes.

        Args:
            prototype_weights: one `(K_i, embedding_dim)` weight per prototype head.
        """
        if len(prototype_weights) != len(self.num_prototypes):
            raise ValueError(
                f"got {len(prototype_weights)} prototype weights for "
                f"{len(self.num_prototypes)} prototype heads"
            )
        queue = self.queue_embeddings[:, : self._filled]
        with torch.autocast(queue.device.type, enabled=False):
            self._queue_scores = [
                queue @ weight.detach().to(queue).t() for weight in prototype_weights
            ]
        self._queue_scores_iteration = self._iteration

    @torch.no_grad()
    def _push_to_queue(self, embedding: torch.Tensor, batch_size: int) -> None:
        length = self.local_queue_length
        new = embedding.detach().reshape(self.num_crops, batch_size, -1)
        new = new[self.crops_for_assign, : min(batch_size, length)]
        kept = length - new.shape[1]
        self.queue_embeddings[:, new.shape[1] :] = self.queue_embeddings[
            :, :kept
        ].clone()
        self.queue_embeddings[:, : new.shape[1]] = new.to(self.queue_embeddings)
        self._filled = min(length, self._filled + new.shape[1])
        self.queue_filled.fill_(self._filled)

    def _check_shapes(self, embedding, scores) -> int:
        if len(scores) != len(self.num_prototypes):
            raise ValueError(
                f"the head returned {len(scores)} score tensors, the loss expects "
                f"{len(self.num_prototypes)} (num_prototypes={self.num_prototypes})"
            )
        rows = scores[0].shape[0]
        if rows % self.num_crops:
            raise ValueError(
                f"{rows} output rows are not a multiple of num_crops={self.num_crops}"
            )
        for i, (s, k) in enumerate(zip(scores, self.num_prototypes, strict=True)):
            if s.shape != (rows, k):
                raise ValueError(
                    f"prototype head {i} gave scores of shape {tuple(s.shape)}, "
                    f"expected ({rows}, {k}) (num_prototypes[{i}]={k})"
                )
        if self.has_queue and embedding.shape[-1] != self.embedding_dim:
            raise ValueError(
                f"embeddings of dimension {embedding.shape[-1]}, expected "
                f"embedding_dim={self.embedding_dim}"
            )
        return rows // self.num_crops

    def _head_loss(
        self, scores: torch.Tensor, head: int, batch_size: int, use_queue: bool
    ) -> torch.Tensor:
        scores = scores.to(self.dtype)
        log_probs = F.log_softmax(scores / self.temperature, dim=1)
        log_probs = log_probs.reshape(self.num_crops, batch_size, -1)
        hard = self._iteration < self.temp_hard_assignment_iters
        total = 0.0
        for i, crop in enumerate(self.crops_for_assign):
            crop_scores = scores.detach()[crop * batch_size : (crop + 1) * batch_size]
            if use_queue:
                queued = self._queue_scores[head][i].to(crop_scores)
                crop_scores = torch.cat((crop_scores, queued))
            codes = sinkhorn_knopp(
                crop_scores,
                self.epsilon,
                self.num_iters,
                dtype=self.dtype,
                hard_assignment=hard,
            )[:batch_size]
            others = [c for c in range(self.num_crops) if c != crop]
            # Mean over the other crops and the batch: -sum_k q_k log p_k.
            total = total - (codes * log_probs[others]).sum(dim=-1).mean()
        return total / len(self.crops_for_assign)

    def forward(
        self, embedding: torch.Tensor, scores: Sequence[torch.Tensor]
    ) -> torch.Tensor:
        """Args:
            embedding: `(num_crops * B, embedding_dim)`, crop-major.
            scores: per prototype head, `(num_crops * B, K_i)`, crop-major.

        Returns:
            The scalar loss in float32, averaged over prototype heads.
        """
        batch_size = self._check_shapes(embedding, scores)
        use_queue = self.queue_active and self._filled > 0
        if use_queue and self._queue_scores_iteration != self._iteration:
            raise RuntimeError(
                "the SwAV queue is in use but its scores were not refreshed this "
                "iteration: the hook seer_swav_queue did not run (seer_plugins.compose "
                "switches it on; list it in config.HOOKS.PLUGINS otherwise)"
            )
        with torch.autocast(scores[0].device.type, enabled=False):
            loss = sum(
                self._head_loss(s, head, batch_size, use_queue)
                for head, s in enumerate(scores)
            ) / len(scores)
        if self.queue_active:
            self._push_to_queue(embedding, batch_size)
        self._iteration += 1
        self.num_iteration.fill_(self._iteration)
        if self.output_dir is not None and not torch.isfinite(loss):
            self._dump(scores)
        return loss.float()

    def _dump(self, scores) -> None:
        rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
        path = os.path.join(self.output_dir, f"rank{rank}_swav_scores.pth")
        torch.save([s.detach().cpu() for s in scores], path)
        logging.error("SwAV loss is not finite; scores saved to %s", path)

    def reshard_state(self, states: Sequence[dict], rank: int, world_size: int) -> dict:
        """This rank's state from the states of a run with another number of ranks.

        Args:
            states: every old rank's `state_dict()`, in rank order.
            rank, world_size: this rank among the new ranks.
        """
        state = {"num_iteration": states[0]["num_iteration"]}
        if not self.has_queue:
            return state
        if all("queue_embeddings" in s for s in states):
            filled = min(int(s["queue_filled"]) for s in states)
            queue, filled = reshard_queue(
                [s["queue_embeddings"] for s in states],
                filled,
                rank,
                world_size,
                self.local_queue_length,
            )
        else:  # the old run had no queue
            queue, filled = torch.zeros_like(self.queue_embeddings), 0
        state["queue_embeddings"] = queue
        state["queue_filled"] = torch.tensor(filled)
        return state

    @property
    def collapse_value(self) -> float:
        """The loss when predictions and codes are uniform: mean of ln(K_i)."""
        return sum(math.log(k) for k in self.num_prototypes) / len(self.num_prototypes)

    def extra_repr(self) -> str:
        return (
            f"num_crops={self.num_crops}, crops_for_assign={self.crops_for_assign}, "
            f"num_prototypes={self.num_prototypes}, temperature={self.temperature}, "
            f"epsilon={self.epsilon}, num_iters={self.num_iters}, "
            f"dtype={self.dtype}, local_queue_length={self.local_queue_length}, "
            f"queue_start_iter={self.queue_start_iter}"
        )


def reshard_queue(
    queues: Sequence[torch.Tensor], filled: int, rank: int, world_size: int, length: int
) -> tuple[torch.Tensor, int]:
    """One rank's queue when the queues of another number of ranks are redealt.

    The old ranks' rows of equal age are interleaved, newest first, into one global
    queue, which is dealt round-robin to the new ranks: every new queue holds rows
    of every age, as an uninterrupted run with this many ranks would.

    Args:
        queues: each old rank's `(crops, L_old, dim)` queue, newest row first.
        filled: the rows of each that hold embeddings.
        rank, world_size: this rank among the new ranks.
        length: the new per-rank queue length.
    Returns:
        `(crops, length, dim)` and the number of its filled rows.
    """
    ordered = torch.stack([q[:, :filled] for q in queues], dim=2).flatten(1, 2)
    mine = ordered[:, rank::world_size][:, :length]
    queue = queues[0].new_zeros(queues[0].shape[0], length, queues[0].shape[2])
    queue[:, : mine.shape[1]] = mine
    return queue, mine.shape[1]


def _read_counters(criterion: SeerSwAVCriterion, incompatible_keys) -> None:
    """After loading a checkpoint, take the counters from the loaded buffers."""
    criterion._iteration = int(criterion.num_iteration)
    if criterion.has_queue:
        criterion._filled = int(criterion.queue_filled)
