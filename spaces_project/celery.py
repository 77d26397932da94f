"""The Celery app: Redis as broker with REDIS_URL, else a filesystem broker (see settings)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces_project.settings.local")

app = Celery("spaces")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
