"""The Celery application of the platform: ``celery -A citela_platform.celery_app worker``."""

from __future__ import annotations

from citela_common.settings import get_settings
from citela_common.tasks import create_celery

app = create_celery(get_settings(), "citela")
