"""The ingest service's own settings: read from the same CITELA_* variables, lifted from the
shared settings, and a scheduled harvest's cron checked when they load."""

from __future__ import annotations

import pytest
from celery.schedules import crontab
from pydantic import ValidationError

from citela_common.settings import Settings, settings_for
from citela_ingest.limits import ReadLimits
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


def test_the_limits_and_the_share_are_read_from_their_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CITELA_INGEST_MIN_SHARE_OF_PREVIOUS", "0.8")
    monkeypatch.setenv("CITELA_INGEST_MAX_FILE_BYTES", str(500 << 20))
    monkeypatch.setenv("CITELA_INGEST_ZIP_MAX_MEMBER_BYTES", str(64 << 20))
    monkeypatch.setenv("CITELA_INGEST_ZIP_MAX_TOTAL_BYTES", str(4 << 30))
    monkeypatch.setenv("CITELA_INGEST_ZIP_MAX_RATIO", "50")
    monkeypatch.setenv("CITELA_INGEST_ZIP_MAX_MEMBERS", "1000")
    own = settings_for(Settings(_env_file=None), IngestSettings)
    assert own.ingest_min_share_of_previous == 0.8
    assert own.read_limits() == ReadLimits(
        max_file_bytes=500 << 20,
        zip_max_member_bytes=64 << 20,
        zip_max_total_bytes=4 << 30,
        zip_max_ratio=50.0,
        zip_max_members=1000,
    )
    monkeypatch.setenv("CITELA_INGEST_MIN_SHARE_OF_PREVIOUS", "1.5")
    with pytest.raises(ValidationError, match="less than or equal to 1"):
        settings_for(Settings(_env_file=None), IngestSettings)


def test_the_defaults_keep_a_national_export_and_stop_a_bomb() -> None:
    own = IngestSettings(_env_file=None)
    assert own.ingest_min_share_of_previous == 0.5
    assert own.read_limits() == ReadLimits()
    assert own.read_limits().max_file_bytes >= 300 << 20  # the national Service-Public export
