"""Plots of runs (matplotlib, Agg): a pretraining run's loss, learning rate and
throughput from its own logs (:mod:`training`); `seer plot DIR` draws that, or
redraws a sweep's top-1 per label subset and checkpoint
(:mod:`seer_plugins.apps.sweep.figure`), by what DIR holds (:mod:`command`)."""
