"""A ClassyHook whose events default to doing nothing.

ClassyHook declares every event abstract, so each hook would otherwise list the
events it ignores as `on_x = ClassyHook._noop`. Plugin hooks subclass this and
define only the events they act on.
"""

from classy_vision.hooks import ClassyHook


class SeerHook(ClassyHook):
    on_start = ClassyHook._noop
    on_phase_start = ClassyHook._noop
    on_forward = ClassyHook._noop
    on_loss_and_meter = ClassyHook._noop
    on_backward = ClassyHook._noop
    on_update = ClassyHook._noop
    on_step = ClassyHook._noop
    on_phase_end = ClassyHook._noop
    on_end = ClassyHook._noop
