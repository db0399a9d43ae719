"""Config plumbing: composing VISSL configs with our search path and plugin defaults.
It knows no plugin: plugins register into it.

- :mod:`compose`: `compose(overrides)`, exactly what the launcher trains with;
- :mod:`source`: the Hydra config source serving the repository's `configs/`;
- :mod:`defaults`: VISSL's defaults plus every plugin's, the one home of a plugin
  key's default;
- :mod:`inference`: where plugins register their compose-time checks and
  inferrers, and the order they run in;
- :mod:`unknown_keys`, :mod:`hydra_errors`: a misspelt key or a Hydra error, in
  one line;
- :mod:`precision`: the dtype names configs may write;
- :mod:`paths`: where the YAML lives (`configs/`, `configs/defaults/`).
"""
