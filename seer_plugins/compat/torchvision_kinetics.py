"""ClassyVision's `classy_kinetics400` imports `torchvision.datasets.kinetics.Kinetics400`.

torchvision 0.12 renamed the class to `Kinetics` (with a `num_classes` argument) and
later releases removed the old name. `import vissl.data` imports every ClassyVision
dataset module, so without the alias nothing in VISSL imports at all. The alias only
has to exist: SEER never builds a Kinetics data set.
"""

import torchvision.datasets.kinetics as tv_kinetics


def apply() -> None:
    if not hasattr(tv_kinetics, "Kinetics400"):
        tv_kinetics.Kinetics400 = tv_kinetics.Kinetics
