"""`DATA.<split>.SEER_INTENSITY` and `SEER_BANDS`, checked when a config is composed:
an unknown mode, a window without low < high or a band list that is not three
indices is one line, before any image is read."""

from seer_plugins.config import inference
from seer_plugins.config.derived import used_splits
from seer_plugins.config.inference import register_config_check
from seer_plugins.data.image_modes import reading_of


@register_config_check(order=inference.VALUES)
def check_image_reading(config) -> None:
    for split in used_splits(config):
        reading_of(config, split)
