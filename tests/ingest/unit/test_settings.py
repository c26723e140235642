"""The ingest service's own settings: read from the same CITELA_* variables, lifted from the
shared settings, and a scheduled harvest's cron checked when they load."""

from __future__ import annotations

import pytest
from celery.schedules import crontab
from pydantic import ValidationError

from citela_common.settings import Settings, settings_for
from citela_ingest.settings import HarvestSchedule, IngestSettings
from citela_ingest.tasks import schedule_entry


def test_the_schedule_is_read_from_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "CITELA_INGEST_SCHEDULE",
        '[{"source": "territories", "tenant": "agglo-pau", "territory": "64", '
        '"cron": "30 2 * * 1"}]',
    )
    monkeypatch.setenv("CITELA_INGEST_GRACE_DAYS", "7")
    own = settings_for(Settings(_env_file=None, port=8123), IngestSettings)
    assert own.port == 8123, "the shared values are kept"
    assert own.ingest_grace_days == 7
    (item,) = own.ingest_schedule
    assert schedule_entry(item)["schedule"] == crontab(minute="30", hour="2", day_of_week="1")


@pytest.mark.parametrize("cron", ["99 * * * *", "0 3 * *", "0 3 * * lundi", "tous les jours"])
def test_a_wrong_cron_is_refused_when_the_settings_load(cron: str) -> None:
    with pytest.raises(ValidationError, match="is not 'minute hour day-of-month month"):
        HarvestSchedule(source="datagouv", tenant="agglo-pau", territory="64", cron=cron)


def test_the_default_cron_is_every_night_at_three() -> None:
    item = HarvestSchedule(source="datagouv", tenant="agglo-pau", territory="64")
    assert item.schedule() == crontab(minute="0", hour="3")
