"""`seer_collapse_warning`: warn when the loss sits at its collapsed value.

A SwAV run that collapses (every image mapped to the same uniform code) shows a
loss stuck at ln(K), K the number of prototypes: uniform codes against uniform
predictions. Users report it as "the loss does not go down". This
hook watches the all-reduced training loss and warns once per episode when the
last `WINDOW` losses all lie within `RELATIVE_TOLERANCE` of that value.

The loss says what its collapsed value is (`collapse_value`); the hook is wanted when
the configured loss class declares that capability, and does nothing with a loss
that lacks it. Settings: `config.HOOKS.SEER_COLLAPSE_WARNING`.
The first iterations sit near ln(K) by construction (random prototypes, frozen
prototypes), so the window starts counting at `START_ITER` or after the prototype
freeze, whichever is later.
"""

import logging
from collections import deque

from classy_vision.generic.distributed_util import is_primary

from seer_plugins.config.defaults import plugin_default, plugin_section
from seer_plugins.hooks.base import SeerHook
from seer_plugins.hooks.registry import loss_capabilities, register_hook
from seer_plugins.models.wrappers import unwrap
from seer_plugins.trainer.train_step import last_loss_value

CONFIG_KEY = "SEER_COLLAPSE_WARNING"
SECTION = f"HOOKS.{CONFIG_KEY}"
# configs/defaults/swav.yaml's, also for a hook built without a config.
DEFAULTS = plugin_default(SECTION)

ADVICE = (
    "Known fixes: freeze the prototypes longer "
    "(LOSS.seer_swav_loss.freeze_prototypes_iters), a smaller Sinkhorn epsilon "
    "(LOSS.seer_swav_loss.epsilon, e.g. 0.03), no BatchNorm in the projection head, "
    "a lower learning rate or longer warm-up, or a queue when the batch is small "
    "(LOSS.seer_swav_loss.queue)."
)


def is_near_collapse(losses, collapse_value: float, relative_tolerance: float) -> bool:
    """True when every loss lies within `relative_tolerance * collapse_value`."""
    band = relative_tolerance * collapse_value
    return bool(losses) and all(abs(x - collapse_value) <= band for x in losses)


def _loss_has_collapse_value(config) -> bool:
    return "collapse_value" in loss_capabilities(config)


@register_hook("seer_collapse_warning", order=13, wanted=_loss_has_collapse_value)
class SeerCollapseWarningHook(SeerHook):
    """Warns when the loss stays within a band around ln(K) for a window.

    Args:
        window: consecutive iterations the loss must stay in the band.
        relative_tolerance: half-width of the band, relative to ln(K).
        start_iter: first iteration counted.
    """

    def __init__(
        self,
        window: int = DEFAULTS["WINDOW"],
        relative_tolerance: float = DEFAULTS["RELATIVE_TOLERANCE"],
        start_iter: int = DEFAULTS["START_ITER"],
    ):
        super().__init__()
        if window < 1 or relative_tolerance <= 0:
            raise ValueError(
                f"HOOKS.{CONFIG_KEY}: WINDOW={window} must be >= 1 and "
                f"RELATIVE_TOLERANCE={relative_tolerance} > 0"
            )
        self.window = window
        self.relative_tolerance = relative_tolerance
        self.start_iter = start_iter
        self._losses: deque[float] = deque(maxlen=window)
        self._warned = False
        self.warnings = 0

    @classmethod
    def from_config(cls, config):
        settings = plugin_section(config, SECTION)
        return cls(
            window=settings["WINDOW"],
            relative_tolerance=settings["RELATIVE_TOLERANCE"],
            start_iter=settings["START_ITER"],
        )

    def _first_counted_iteration(self, loss) -> int:
        """START_ITER, or later while the loss keeps its prototypes frozen (their
        scores then stay near ln(K) by design)."""
        frozen = getattr(loss, "freeze_prototypes_iters", None)
        return self.start_iter if frozen is None else max(self.start_iter, int(frozen))

    def on_step(self, task) -> None:
        loss = unwrap(task.loss)
        collapse_value = getattr(loss, "collapse_value", None)
        if not task.train or collapse_value is None:
            return
        start = self._first_counted_iteration(loss)
        # task.iteration was advanced after the step: the step's own index is - 1.
        if task.iteration - 1 < start:
            return
        self._losses.append(last_loss_value(task))
        near = len(self._losses) == self.window and is_near_collapse(
            self._losses, collapse_value, self.relative_tolerance
        )
        if near and not self._warned:
            self.warnings += 1
            if is_primary():
                mean = sum(self._losses) / len(self._losses)
                logging.warning(
                    "SwAV collapse? The loss stayed within %.1f%% of ln(K)=%.4f for "
                    "the last %d iterations (mean %.4f, iteration %d). %s",
                    100 * self.relative_tolerance,
                    collapse_value,
                    self.window,
                    mean,
                    task.iteration,
                    ADVICE,
                )
        # Warn again only after the loss has left the band.
        self._warned = near
