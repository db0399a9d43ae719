"""Applications built on the plugins; nothing here registers into VISSL. Each
`seer` command is one function here (:data:`seer_plugins.cli.COMMANDS`).

- :mod:`launcher`: `seer train`: compose, preflight, then VISSL's engine locally or
  on SLURM;
- :mod:`commands`: `seer split`;
- :mod:`sweep`: benchmark sweeps over checkpoints x label subsets x seeds, tables,
  results.png; `seer sweep` and `seer init-checkpoint`;
- :mod:`plots`: `seer plot`: a run's loss, learning rate and img/s;
- :mod:`demo`: `seer demo`: the digits demo, pretraining to a results table;
- :mod:`memory_plan`: `seer plan`: per-GPU memory of a config, sharded or not;
- :mod:`convert`: `seer convert`: RegNetY weights between VISSL and timm;
- :mod:`throughput`: the one-step throughput benchmark, ours against stock VISSL.
"""
