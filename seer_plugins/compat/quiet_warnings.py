"""Silence warnings that VISSL's imports raise on today's stack and that a user can't act on.

Each is about code inside VISSL, ClassyVision or their imports, not about the run:
- setuptools: `pkg_resources` is deprecated (VISSL imports it; we pin setuptools<81);
- torchvision: `_functional_video` / `_transforms_video` are deprecated (ClassyVision);
- torch: `torch.jit.script` is deprecated (a scripted helper in VISSL's imports);
- Hydra: VISSL's search-path plugin adds `file://configs` relative to the working
  directory, reported as "not available" from any other directory.
Filters are by message, so any other warning from the same modules still shows.
"""

import warnings

_HARMLESS = (
    (UserWarning, r"pkg_resources is deprecated as an API"),
    (
        UserWarning,
        r"The 'torchvision\.transforms\._(functional|transforms)_video' module",
    ),
    (FutureWarning, r"`torch\.jit\.script` is deprecated"),
    (UserWarning, r"provider=vissl, path=configs is not available"),
)


def apply() -> None:
    for category, message in _HARMLESS:
        warnings.filterwarnings("ignore", message=message, category=category)
