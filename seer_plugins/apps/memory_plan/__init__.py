"""`seer plan`: per-GPU memory of a config against the GPUs': :mod:`plan` computes
it, :mod:`command` is the command line."""
