"""What a harvest may read: file sizes and ZIP archives, checked while reading.

A ZIP's header sizes are checked first (cheap) but not trusted: a member is read in chunks and
the counts stop the read as soon as a limit is passed, so a bomb (a few hundred KB expanding to
gigabytes) costs at most the member limit in memory. An archive inside the archive is refused:
it would escape the limits (and the expected layout). Framework-free.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

__all__ = [
    "ArchiveRefused",
    "ReadLimits",
    "SafeZip",
    "check_file_size",
    "is_zip",
    "read_file",
    "size_text",
]

CHUNK = 64 * 1024
# below this many bytes expanded, a member or an archive is never refused for its ratio: a
# small file of repeated characters compresses very well and is harmless
RATIO_FLOOR = 1 << 20
_ZIP_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True)
class ReadLimits:
    """The limits (``IngestSettings``: ``CITELA_INGEST_MAX_FILE_BYTES``, ``…_ZIP_…``)."""

    max_file_bytes: int = 2 << 30  # a file given or downloaded (the national export: 300 MB)
    zip_max_member_bytes: int = 256 << 20  # one file of an archive, expanded
    zip_max_total_bytes: int = 16 << 30  # all files of an archive read, expanded
    zip_max_ratio: float = 200.0  # expanded / compressed (JSON: 5 to 20; zeros: 1,000)
    zip_max_members: int = 2_000_000  # files in an archive (a national flux: ~500,000)


class ArchiveRefused(Exception):
    """A file or an archive passed a limit; ``reason`` says which, in French, for the run."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def size_text(count: float) -> str:
    """Bytes as an official reads them: « 1,5 Gio », « 256 Mio », « 12 Kio »."""
    for unit, size in (("Gio", 1 << 30), ("Mio", 1 << 20), ("Kio", 1 << 10)):
        if count >= size:
            value = f"{count / size:.1f}".rstrip("0").rstrip(".").replace(".", ",")
            return f"{value} {unit}"
    return f"{int(count)} octets"


def check_file_size(path: Path, limits: ReadLimits) -> None:
    """ArchiveRefused when the file is larger than ``max_file_bytes``."""
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise ArchiveRefused(
            f"fichier refusé : {path.name} fait {size_text(size)}, plus que la limite de "
            f"{size_text(limits.max_file_bytes)} (CITELA_INGEST_MAX_FILE_BYTES)"
        )


def read_file(path: Path, limits: ReadLimits) -> bytes:
    """The file's bytes, never more than ``max_file_bytes`` read (it may grow while read)."""
    check_file_size(path, limits)
    with path.open("rb") as handle:
        data = handle.read(limits.max_file_bytes + 1)
    if len(data) > limits.max_file_bytes:
        raise ArchiveRefused(
            f"fichier refusé : {path.name} dépasse la limite de "
            f"{size_text(limits.max_file_bytes)} (CITELA_INGEST_MAX_FILE_BYTES)"
        )
    return data


class SafeZip:
    """A ZIP archive read within ``limits``: every refusal is an ArchiveRefused."""

    def __init__(self, path: Path, limits: ReadLimits) -> None:
        check_file_size(path, limits)
        self.path = path
        self.limits = limits
        self.archive_bytes = max(1, path.stat().st_size)
        self.expanded = 0  # bytes read out of the archive so far, all members
        self.zip = zipfile.ZipFile(path)
        try:
            self._check_listing()
        except ArchiveRefused:
            self.zip.close()
            raise

    def _check_listing(self) -> None:
        infos = self.zip.infolist()
        limits = self.limits
        if len(infos) > limits.zip_max_members:
            raise ArchiveRefused(
                f"archive refusée : {self.path.name} contient {len(infos)} fichiers, plus que "
                f"la limite de {limits.zip_max_members} (CITELA_INGEST_ZIP_MAX_MEMBERS)"
            )
        nested = [i.filename for i in infos if i.filename.lower().endswith(".zip")]
        if nested:
            raise ArchiveRefused(self._nested(nested[0]))
        declared = sum(i.file_size for i in infos)
        if declared > limits.zip_max_total_bytes:
            raise ArchiveRefused(
                f"archive refusée : {self.path.name} annonce {size_text(declared)} une fois "
                f"décompressée, plus que la limite de {size_text(limits.zip_max_total_bytes)} "
                "(CITELA_INGEST_ZIP_MAX_TOTAL_BYTES)"
            )

    def _nested(self, name: str) -> str:
        return (
            f"archive refusée : {self.path.name} contient une autre archive ZIP ({name}) ; "
            "une archive dans une archive n'est pas lue : décompressez-la et donnez l'archive "
            "intérieure"
        )

    def close(self) -> None:
        self.zip.close()

    def names(self) -> list[str]:
        """The files of the archive (folders left out)."""
        return [i.filename for i in self.zip.infolist() if not i.is_dir()]

    def has(self, name: str) -> bool:
        try:
            self.zip.getinfo(name)
        except KeyError:
            return False
        return True

    def read(self, name: str) -> bytes:
        """A member's bytes, read in chunks and counted: ArchiveRefused once a limit is passed
        (KeyError when there is no such member; zipfile.BadZipFile when it is damaged)."""
        info = self.zip.getinfo(name)
        limits = self.limits
        member_limit = limits.zip_max_member_bytes
        if info.file_size > member_limit:
            raise ArchiveRefused(self._too_large(name, info.file_size))
        parts: list[bytes] = []
        size = 0
        with self.zip.open(info) as member:
            while chunk := member.read(CHUNK):
                if not parts and chunk.startswith(_ZIP_MAGIC):
                    raise ArchiveRefused(self._nested(name))
                size += len(chunk)
                self.expanded += len(chunk)
                if size > member_limit:
                    raise ArchiveRefused(self._too_large(name, size))
                if self.expanded > limits.zip_max_total_bytes:
                    raise ArchiveRefused(
                        f"archive refusée : plus de {size_text(limits.zip_max_total_bytes)} lus "
                        f"une fois décompressés dans {self.path.name} "
                        "(CITELA_INGEST_ZIP_MAX_TOTAL_BYTES)"
                    )
                ratio = limits.zip_max_ratio
                if (size > RATIO_FLOOR and size > ratio * _consumed(member, info)) or (
                    self.expanded > RATIO_FLOOR and self.expanded > ratio * self.archive_bytes
                ):
                    raise ArchiveRefused(
                        f"archive refusée : {name} se décompresse plus de {ratio:g} fois sa "
                        f"taille compressée (déjà {size_text(size)} lus) — une bombe de "
                        "décompression ? (CITELA_INGEST_ZIP_MAX_RATIO)"
                    )
                parts.append(chunk)
        return b"".join(parts)

    def _too_large(self, name: str, size: int) -> str:
        return (
            f"archive refusée : {name} dépasse {size_text(self.limits.zip_max_member_bytes)} "
            f"une fois décompressé ({size_text(size)} ou plus ; "
            "CITELA_INGEST_ZIP_MAX_MEMBER_BYTES)"
        )


def _consumed(member: IO[bytes], info: zipfile.ZipInfo) -> int:
    """Compressed bytes of the member read so far: the ratio of what was expanded to them
    stops a bomb after its first megabyte, not after ratio × its whole compressed size.
    (zipfile's own counts: what is left in the file and what its decompressor holds unread;
    without them, the member's whole compressed size.)"""
    left = getattr(member, "_compress_left", None)
    if not isinstance(left, int):
        return max(1, info.compress_size)
    tail = getattr(getattr(member, "_decompressor", None), "unconsumed_tail", b"")
    return max(1, info.compress_size - left - (len(tail) if isinstance(tail, bytes) else 0))


def is_zip(path: Path) -> bool:
    """A file that starts like a ZIP archive (whatever its name)."""
    try:
        with path.open("rb") as handle:
            return handle.read(4) == _ZIP_MAGIC
    except OSError:
        return False
