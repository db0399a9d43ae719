"""Training hooks: a registry VISSL lacks (:mod:`registry`), the hooks registered in
it (`seer_*`, one module each) and the hook generator the launcher passes VISSL."""
