"""Benchmark tooling: sweeps over checkpoints x label subsets x seeds, result tables,
and random-init checkpoints for baselines. Nothing here registers into VISSL."""
