"""Plots of runs (matplotlib, Agg): a pretraining run's loss, learning rate and
throughput from its own logs (:mod:`training`); a sweep's top-1 per label subset and
checkpoint (:mod:`results`); `seer plot DIR` picks one by what DIR holds
(:mod:`command`)."""
