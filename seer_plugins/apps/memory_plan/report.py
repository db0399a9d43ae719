"""`seer plan`'s table and JSON object for an arithmetic plan beside a simulation."""

from seer_plugins.apps.memory_plan.plan import GiB, MemoryPlan, mode_line
from seer_plugins.apps.memory_plan.simulate import (
    ALLOWANCE_GIB,
    DDP_BUCKETS,
    FRAGMENTATION,
    Simulation,
)

# (simulated category, label) in the table's order.
ROWS = (
    ("parameters", "parameters"),
    ("gathered_parameters", "gathered parameters"),
    ("gradients", "gradients"),
    ("gathered_gradients", "gathered gradients"),
    (DDP_BUCKETS, "DDP buckets"),
    ("optimizer_state", "optimizer state"),
    ("activations", "activations"),
    ("temporaries", "temporaries"),
    ("inputs", "inputs"),
    ("all_gather", "all-gather"),
    ("reduce_scatter", "reduce-scatter"),
    ("other", "other"),
)
NOT_COUNTED = (
    f"not counted by either: the CUDA context, NCCL's buffers, the allocator's "
    f"fragmentation; the simulation adds {ALLOWANCE_GIB:g} GiB + "
    f"{FRAGMENTATION:.0%} of its peak for them"
)


def arithmetic_by_category(plan: MemoryPlan) -> dict[str, int]:
    """The plan's lines under the simulation's category names."""
    return {
        "parameters": plan.parameters,
        # The largest unit gathered: its parameters, the next unit's, its gradients
        # and their reduce-scatter copy (plan.py).
        "gathered_parameters": plan.gathered,
        "gradients": plan.gradients - plan.ddp_buckets,
        DDP_BUCKETS: plan.ddp_buckets,
        "optimizer_state": plan.optimizer_state,
        # Measured as one: the activations and temporaries of a forward + backward.
        "activations": plan.activations,
    }


def _gib(n: float) -> str:
    return f"{n / GiB:9.2f}"


def simulation_table(plan: MemoryPlan, sim: Simulation) -> str:
    mode = mode_line(sim.sharded, sim.world_size)
    arithmetic = arithmetic_by_category(plan)
    lines = [
        f"{plan.config}: {mode}, {sim.batch} images per GPU, GiB per GPU",
        f"  {'':22}{'simulated':>9}  {'arithmetic':>10}",
    ]
    for key, label in ROWS:
        simulated = sim.memory.by_category.get(key, 0)
        if not simulated and not arithmetic.get(key):
            continue
        other = _gib(arithmetic[key]) if key in arithmetic else ""
        lines.append(f"  {label:22}{_gib(simulated)}  {other:>10}")
    verdict = "fits" if sim.fits(plan.gpu_memory_gb) else "does not fit"
    lines += [
        f"  {'peak':22}{_gib(sim.memory.peak)}  {_gib(plan.total):>10}",
        f"  {'+ allowance':22}{_gib(sim.allowance)}",
        f"  {'needed':22}{_gib(sim.needed)}  of {plan.gpu_memory_gb:g} GiB: {verdict}",
        f"  simulated: 2 training steps on fake tensors as rank 0 of a fake world of "
        f"{sim.world_size}, in {sim.seconds:.0f} s (torch's "
        f"{'FSDPMemTracker' if sim.sharded else 'MemTracker'}; peak of the 2nd step)",
        "  arithmetic: largest gathered unit "
        f"{plan.largest_unit}; activations measured with temporaries",
    ]
    if sim.checkpoint_plan:
        entries, items, size = sim.checkpoint_plan
        lines.append(
            f"  sharded checkpoint, as DCP plans it: {entries} entries; this rank "
            f"writes {items} items, {size / GiB:.2f} GiB"
        )
    lines.append(f"  ({NOT_COUNTED})")
    return "\n".join(lines)


def _gib_dict(sizes: dict[str, int]) -> dict[str, float]:
    return {k: round(v / GiB, 4) for k, v in sizes.items()}


def plan_json(plan: MemoryPlan, sim: Simulation | None) -> dict:
    """One object: the simulation's figures when there is one, else the plan's."""
    result = {
        "config": plan.config,
        "world_size": plan.gpus,
        "sharded": plan.sharded,
        "batch": plan.batch,
        "gpu_memory_gib": plan.gpu_memory_gb,
        "per_rank_peak_gib": {
            "simulated": round(sim.memory.peak / GiB, 4) if sim else None,
            "arithmetic": round(plan.total / GiB, 4),
        },
        "by_category_gib": _gib_dict(
            sim.memory.by_category if sim else arithmetic_by_category(plan)
        ),
        "arithmetic_by_category_gib": _gib_dict(arithmetic_by_category(plan)),
        "allowance_gib": round(sim.allowance / GiB, 4) if sim else None,
        "fits": sim.fits(plan.gpu_memory_gb) if sim else plan.fits,
        "seconds": round(sim.seconds, 1) if sim else None,
    }
    if sim and sim.checkpoint_plan:
        entries, items, size = sim.checkpoint_plan
        result["checkpoint_plan"] = {
            "entries": entries,
            "items_this_rank": items,
            "bytes_this_rank": size,
        }
    return result
