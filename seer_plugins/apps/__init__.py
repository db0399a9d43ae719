"""Applications built on the plugins; nothing here registers into VISSL.

- :mod:`launcher`: compose, preflight, then VISSL's engine locally or on SLURM;
- :mod:`commands`: the `seer` commands without a module of their own (train, split,
  convert, init-checkpoint); the dispatcher is :mod:`seer_plugins.cli`;
- :mod:`sweep`: benchmark sweeps over checkpoints x label subsets x seeds, tables;
- :mod:`plots`: a run's loss, learning rate and img/s; a sweep's results.png;
- :mod:`demo`: the digits demo, pretraining to a results table;
- :mod:`throughput`: the one-step throughput benchmark, ours against stock VISSL;
- :mod:`memory_plan`: per-GPU memory of a config, sharded or not, against a GPU's.
"""
