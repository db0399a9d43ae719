"""Compose-time checks and inferrers run in their declared order, not import order,
and composing logs that order."""

import logging

from seer_plugins import compose
from seer_plugins.config import inference


def _names(functions) -> list[str]:
    return [f.__name__ for f in functions]


def test_the_inferrers_that_switch_components_run_first_and_hooks_last():
    names = _names(inference.registered_inferrers())
    # Both rewrite TRAINER keys (TRAIN_STEP_NAME, TASK_NAME) that later ones read.
    assert set(names[:2]) == {"infer_seer_amp", "check_seer_fsdp_config"}
    assert names[-1] == "resolve_plugin_hooks"
    assert names.index("check_seer_regnet_config") < names.index("infer_seer_swav_loss")
    assert _names(inference.registered_checks()) == [
        "check_plugin_names",
        "check_value_types",
        "check_image_reading",
    ]


def test_a_later_registration_with_a_smaller_order_runs_first(monkeypatch):
    monkeypatch.setattr(inference, "_INFERRERS", list(inference._INFERRERS))

    @inference.register_config_inferrer(order=inference.COMPONENTS - 1)
    def first(config):
        pass

    @inference.register_config_inferrer  # another project's: PROJECT, before hooks
    def project(config):
        pass

    names = _names(inference.registered_inferrers())
    assert names[0] == "first"
    assert names.index("project") == names.index("resolve_plugin_hooks") - 1


def test_composing_logs_the_resolved_order(caplog):
    with caplog.at_level(logging.INFO):
        compose(["config=pretrain/seer_tiny"])
    line = next(
        r.getMessage() for r in caplog.records if "inferrers:" in r.getMessage()
    )
    assert line.index("infer_seer_amp") < line.index("resolve_plugin_hooks (90)")
