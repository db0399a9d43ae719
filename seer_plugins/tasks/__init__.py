"""Task plugins: `seer_self_supervision_task` (VISSL's task, resumed exactly).

Registration only: importing :mod:`exact_resume_task` adds it to ClassyVision's
TASK_REGISTRY, which VISSL reads through `config.TRAINER.TASK_NAME`.
"""

from seer_plugins.tasks import exact_resume_task as _exact_resume_task  # noqa: F401
