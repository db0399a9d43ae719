"""Training-loop plugins, as `vissl/trainer` holds VISSL's: the train step, the task
(exact resume after a kill; sharding), when VISSL checkpoints, and the
random-generator state a checkpoint carries."""
