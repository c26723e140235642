"""Reading within limits: a ZIP bomb stops while streaming, lying headers gain nothing, an
archive in the archive, too many files or too large a file are refused with a French reason."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

from citela_ingest.limits import ArchiveRefused, ReadLimits, SafeZip, read_file, size_text

MIB = 1 << 20


def bomb(path: Path, size: int, name: str = "objects/0/00/bombe.json") -> Path:
    """A small ZIP holding ``size`` bytes of spaces (they compress about 1,000 times)."""
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open(name, "w", force_zip64=True) as member,
    ):
        block = b" " * MIB
        for _ in range(size // MIB):
            member.write(block)
    return path


def test_a_bomb_is_stopped_by_its_ratio_after_a_megabyte_or_two(tmp_path: Path) -> None:
    archive = bomb(tmp_path / "flux.zip", 100 * MIB)
    assert archive.stat().st_size < 200_000  # ~100 KB expanding to 100 MiB
    safe = SafeZip(archive, ReadLimits())  # the declared size is under every limit
    with pytest.raises(ArchiveRefused) as refused:
        safe.read("objects/0/00/bombe.json")
    assert "bombe de décompression" in refused.value.reason
    assert "CITELA_INGEST_ZIP_MAX_RATIO" in refused.value.reason
    assert safe.expanded <= 2 * MIB, "the read stopped once the limit was passed"


def test_a_member_larger_than_the_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    archive = tmp_path / "flux.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("index.json", os.urandom(2 * MIB))  # incompressible: no ratio to blame
    safe = SafeZip(archive, ReadLimits(zip_max_member_bytes=MIB))
    with pytest.raises(ArchiveRefused) as refused:
        safe.read("index.json")
    assert "index.json dépasse 1 Mio une fois décompressé" in refused.value.reason
    assert safe.expanded == 0


def test_the_total_is_checked_on_the_headers_and_counted_while_reading(tmp_path: Path) -> None:
    archive = tmp_path / "flux.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        for n in range(3):
            zf.writestr(f"objects/{n}.json", os.urandom(MIB))
    with pytest.raises(ArchiveRefused, match="annonce 3 Mio"):
        SafeZip(archive, ReadLimits(zip_max_total_bytes=2 * MIB))  # the headers tell at once
    safe = SafeZip(archive, ReadLimits(zip_max_total_bytes=3 * MIB))
    for n in range(3):
        safe.read(f"objects/{n}.json")
    assert safe.expanded == 3 * MIB


def test_a_header_that_lies_about_the_size_gains_nothing(tmp_path: Path) -> None:
    """A central directory that announces 1,000 bytes for a 5 MiB member: the read stops at
    what was announced and the member is refused as damaged (its checksum fails)."""
    archive = bomb(tmp_path / "flux.zip", 5 * MIB, name="index.json")
    data = bytearray(archive.read_bytes())
    entry = data.index(b"PK\x01\x02")  # the central directory entry
    extra_at = entry + 46 + int.from_bytes(data[entry + 28 : entry + 30], "little")
    # zip64: the real sizes sit in the extra field; write the lie in both places
    data[entry + 24 : entry + 28] = (1000).to_bytes(4, "little")
    if data[extra_at : extra_at + 2] == b"\x01\x00":
        data[extra_at + 4 : extra_at + 12] = (1000).to_bytes(8, "little")
    archive.write_bytes(bytes(data))
    safe = SafeZip(archive, ReadLimits())
    with pytest.raises(zipfile.BadZipFile):
        safe.read("index.json")
    assert safe.expanded <= 1000


def test_an_archive_in_the_archive_is_refused(tmp_path: Path) -> None:
    inner = tmp_path / "flux.zip"
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("index.json", "[]")
    outer = tmp_path / "envoi.zip"
    with zipfile.ZipFile(outer, "w") as zf:
        zf.write(inner, "flux.zip")
        zf.write(inner, "objects/disguised.json")  # a ZIP named like an object
    with pytest.raises(ArchiveRefused) as refused:
        SafeZip(outer, ReadLimits())
    assert refused.value.reason == (
        "archive refusée : envoi.zip contient une autre archive ZIP (flux.zip) ; une archive "
        "dans une archive n'est pas lue : décompressez-la et donnez l'archive intérieure"
    )
    disguised = tmp_path / "envoi2.zip"
    with zipfile.ZipFile(disguised, "w") as zf:
        zf.write(inner, "objects/disguised.json")
    with pytest.raises(ArchiveRefused, match="contient une autre archive ZIP"):
        SafeZip(disguised, ReadLimits()).read("objects/disguised.json")


def test_too_many_members_and_too_large_a_file(tmp_path: Path) -> None:
    archive = tmp_path / "flux.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for n in range(11):
            zf.writestr(f"objects/{n}.json", "{}")
    with pytest.raises(ArchiveRefused, match="11 fichiers, plus que la limite de 10"):
        SafeZip(archive, ReadLimits(zip_max_members=10))
    export = tmp_path / "export.json"
    export.write_bytes(b"[" + b" " * 2048 + b"]")
    with pytest.raises(ArchiveRefused) as refused:
        read_file(export, ReadLimits(max_file_bytes=1024))
    assert refused.value.reason == (
        "fichier refusé : export.json fait 2 Kio, plus que la limite de 1 Kio "
        "(CITELA_INGEST_MAX_FILE_BYTES)"
    )
    assert read_file(export, ReadLimits()) == export.read_bytes()
    assert size_text(1536 * MIB) == "1,5 Gio"
