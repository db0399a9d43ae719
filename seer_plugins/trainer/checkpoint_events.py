"""When VISSL's checkpoint hook writes a checkpoint, and under which name.

The task gathers what every rank must contribute (random generators, loss buffers,
the shards of a sharded model) before the hooks of the event in which VISSL's
`LogLossMetricsCheckpointHook` saves on rank 0, so it must know exactly when that
is.
"""

from vissl.utils.checkpoint import CheckpointWriter, is_checkpoint_phase


def due_checkpoint_file(task, hook_function_name: str) -> str | None:
    """The file VISSL's checkpoint hook writes during this event, or None.

    The conditions of `LogLossMetricsCheckpointHook._checkpoint_model` (on_step:
    every `CHECKPOINT_ITER_FREQUENCY` iterations; on_phase_end: every
    `CHECKPOINT_FREQUENCY` phases and the last one), and its writer's name.
    """
    if not task.train:
        return None
    checkpoint = task.config.CHECKPOINT
    if hook_function_name == "on_step":
        frequency = checkpoint.CHECKPOINT_ITER_FREQUENCY
        if frequency <= 0 or task.iteration % frequency:
            return None
        mode, number, final = "iteration", task.iteration, False
    elif hook_function_name == "on_phase_end":
        number = task.train_phase_idx
        final = number == task.num_train_phases - 1
        due = is_checkpoint_phase(
            number,
            checkpoint.CHECKPOINT_FREQUENCY,
            number,
            task.num_train_phases,
            "phase",
        )
        if not (final or due):
            return None
        mode = "phase"
    else:
        return None
    return checkpoint_file_name(task, mode, number, final)


def checkpoint_file_name(task, mode: str, number: int, final: bool = False) -> str:
    """The name VISSL's writer gives a checkpoint (`model_iteration8.torch`)."""
    writer = CheckpointWriter(task.checkpoint_folder, final, mode, number, "disk")
    return writer.get_checkpoint_name()
