"""The Celery application. Tasks are found in each app's tasks.py."""

from __future__ import annotations

import os

from celery import Celery

from config.deliveries import forget_stale
from config.periodic import reconcile_on_default_worker

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Every task counts its deliveries: a message that keeps killing workers is quarantined (config/deliveries.py).
app = Celery("affiant", task_cls="config.deliveries:CappedTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Delivery counts left by messages that will not come back are forgotten, by the default worker.
reconcile_on_default_worker("delivery-counts", forget_stale)
