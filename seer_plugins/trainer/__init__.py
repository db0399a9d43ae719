"""Training-loop plugins, as `vissl/trainer` holds VISSL's: the train step, the task
(exact resume after a kill), and the random-generator state a checkpoint carries."""
