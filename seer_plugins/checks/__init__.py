"""Refusing what cannot work, before training: config checks run at compose time
(plugin names, value types, the trunk and the head's width, sharding, LR milestones
and top-k) and the launcher's preflight (this machine's devices, the data files,
`MODEL.WEIGHTS_INIT`). Each refusal is a :class:`seer_plugins.errors.ConfigError`."""
