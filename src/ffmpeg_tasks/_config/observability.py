"""Webhooks and metrics from the environment, for ``TaskManager.from_env``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from .._errors import ConfigurationError
from .._webhook_settings import WebhookSettings

__all__ = ["METRICS_ENV_VAR", "observability_from_env"]

#: ``1`` (or ``true``) measures with Prometheus (the ``metrics`` extra).
METRICS_ENV_VAR = "FFMPEG_TASKS_METRICS"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def observability_from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``TaskManager`` keyword arguments: ``webhooks`` (``FFMPEG_TASKS_WEBHOOK_SECRET``,
    ``FFMPEG_TASKS_WEBHOOK_URLS``) and ``metrics`` (``FFMPEG_TASKS_METRICS=1``), for those set.

    Raises:
        ConfigurationError: a value is unusable, or the ``metrics`` extra is missing.
    """
    env = os.environ if environ is None else environ
    found: dict[str, Any] = {}
    webhooks = WebhookSettings.from_env(env)
    if webhooks is not None:
        found["webhooks"] = webhooks
    flag = env.get(METRICS_ENV_VAR, "").strip().lower()
    if flag in _TRUE:
        from ..integrations.prometheus import PrometheusMetrics

        found["metrics"] = PrometheusMetrics()
    elif flag not in _FALSE:
        raise ConfigurationError(f"{METRICS_ENV_VAR} must be 1 or 0, got {flag!r}")
    return found
