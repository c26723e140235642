"""The national export (~63 000 offices, 100–300 MB) is streamed: memory does not grow with it.

The listing runs in a child process that reports its peak resident memory before and after
streaming a generated 50 MB export (20 000 copies of the real Fontaine-le-Port record with
derived ids). Loading that file whole would take several times its size; streaming adds a few
MB. (tracemalloc would measure the same inside this process, at ten times the run time.)
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from citela_common.events.models import CatalogueEntryUpserted
from citela_ingest.records import RawRecord
from citela_ingest.sources.service_public import ServicePublicSource
from tests.ingest.unit.helpers import SERVICE_PUBLIC, context, load

COUNT = 20_000
MB = 1024 * 1024

CHILD = """
import json, resource, sys
from citela_common.events.models import CatalogueEntryUpserted
from citela_ingest.records import RawRecord
from citela_ingest.sources.service_public import ServicePublicSource

def peak():  # kB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

source = ServicePublicSource.from_file(sys.argv[1])
before = peak()
count = 0
last = None
for record in source.list_records():
    if isinstance(record, RawRecord):
        count += 1
        last = record.remote_id
print(json.dumps({"before": before, "after": peak(), "count": count, "last": last}))
"""


def write_large_export(path: Path) -> int:
    """COUNT copies of the real Fontaine-le-Port record with derived ids, written one by one."""
    record = load(SERVICE_PUBLIC / "export_datagouv_gouv_local_mairie-fontaine-le-port.json")[
        "service"
    ][0]
    with path.open("w", encoding="utf-8") as out:
        out.write('{"service": [')
        for n in range(COUNT):
            record["id"] = f"00007e4d-264c-43a0-b0b7-{n:012d}"
            out.write(("," if n else "") + json.dumps(record, ensure_ascii=False))
        out.write("]}\n")
    return path.stat().st_size


def test_large_export_is_streamed_with_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "services.gouv_local.json"
    size = write_large_export(path)
    assert size > 40 * MB

    started = time.perf_counter()
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    elapsed = time.perf_counter() - started
    report = json.loads(child.stdout)
    assert report["count"] == COUNT
    assert report["last"] == f"00007e4d-264c-43a0-b0b7-{COUNT - 1:012d}"
    growth = report["after"] - report["before"]
    assert growth < 16 * MB, f"streaming a {size}-byte file grew the process by {growth} bytes"
    assert growth < size / 4
    assert elapsed < 20


def test_streamed_records_map_like_any_other(tmp_path: Path) -> None:
    path = tmp_path / "services.gouv_local.json"
    write_large_export(path)
    source = ServicePublicSource.from_file(path)
    ctx = context()
    ids = []
    for position, record in enumerate(source.list_records()):
        assert isinstance(record, RawRecord)
        if position % 4000 == 0:
            [entry] = source.map_record(record, ctx)
            assert isinstance(entry, CatalogueEntryUpserted)
            assert entry.title == "Mairie - Fontaine-le-Port"
            ids.append(entry.entry_id)
    assert ids[-1] == "service-public:00007e4d-264c-43a0-b0b7-000000016000"
