"""The Celery application. Tasks are found in each app's tasks.py."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Every task counts its deliveries: a message that keeps killing workers is quarantined (config/deliveries.py).
app = Celery("affiant", task_cls="config.deliveries:CappedTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
