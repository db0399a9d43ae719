"""Applications built on the plugins; nothing here registers into VISSL.

- :mod:`launcher`: compose, preflight, then VISSL's engine locally or on SLURM;
- :mod:`sweep`: benchmark sweeps over checkpoints x label subsets x seeds, tables;
- :mod:`demo`: the digits demo, pretraining to a results table;
- :mod:`throughput`: the one-step throughput benchmark, ours against stock VISSL;
- :mod:`memory_plan`: per-GPU memory of a config, sharded or not, against a GPU's.
"""
