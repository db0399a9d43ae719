"""Benchmark sweeps: checkpoints x label subsets x seeds (:mod:`runs`, :mod:`sweep`),
result tables (:mod:`results`) and random-init checkpoints for baselines
(:mod:`init_checkpoint`)."""
