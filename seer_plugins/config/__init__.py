"""Config plumbing: composing VISSL configs with our search path and plugin defaults.

- :mod:`compose`: `compose(overrides)`, exactly what the launcher trains with;
- :mod:`source`: the Hydra config source serving the repository's `configs/`;
- :mod:`inference`: where plugins register their compose-time checks and inferrers;
- :mod:`paths`: where the YAML lives (`configs/`, `configs/defaults/`).
"""
