"""Optimizers: SGD with an apex-free LARC (layer-wise adaptive rate clipping)."""
