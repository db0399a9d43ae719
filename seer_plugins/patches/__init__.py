"""Patches of VISSL's own behaviour (not of today's stack: that is `compat/`).

Each module fixes one thing VISSL 0.1.6 gets wrong and is applied by an explicit
`install()` call in `seer_plugins/__init__.py`, never on import.
"""
