"""Refusing what cannot work, before training: config checks run at compose time
(plugin names, value types, trunk and head widths) and the launcher's preflight
(this machine's devices and files). One error format: :mod:`errors`."""
