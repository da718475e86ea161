"""Uploaded files into a private temporary folder, safely: a size limit on what is uploaded and on
what a zip expands to, and no name (``../x``, ``/etc/x``, ``C:\\x``) that can write outside it.
Nothing leaves the machine; the folder is the case folder the connectors then read."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path, PurePosixPath

MAX_UPLOAD_MB = 500


class UploadError(ValueError):
    pass


def _safe_relative(name: str) -> Path | None:
    """The name as a relative path inside the folder, or None when it would climb out of it."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if not parts or parts[0] == "/" or ":" in parts[0] or ".." in parts:
        return None
    return Path(*parts)


def _write(dest: Path, name: str, data: bytes, skipped: list[str]) -> None:
    relative = _safe_relative(name)
    if relative is None:
        skipped.append(name)
        return
    path = dest / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def unpack(files: list[tuple[str, bytes]], dest: Path, limit_mb: int = MAX_UPLOAD_MB) -> list[str]:
    """Write uploaded ``(name, bytes)`` into ``dest``, expanding zips. Returns the names skipped
    because they would land outside ``dest``. Raises UploadError beyond ``limit_mb`` (uploaded, or
    expanded from zips: a small zip can unpack to gigabytes)."""
    limit = limit_mb * 1024 * 1024
    if (total := sum(len(data) for _, data in files)) > limit:
        raise UploadError(f"uploads total {total / 2**20:.0f} MB; the limit is {limit_mb} MB")
    skipped: list[str] = []
    expanded = 0
    for name, data in files:
        if not name.lower().endswith(".zip"):
            _write(dest, Path(name.replace("\\", "/")).name, data, skipped)
            continue
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            expanded += sum(m.file_size for m in members)
            if expanded > limit:
                raise UploadError(f"{name} expands beyond the {limit_mb} MB limit")
            for member in members:
                _write(dest, member.filename, archive.read(member), skipped)
    return skipped


def fingerprint(folder: Path) -> str:
    """A cheap identity of a folder's content (paths, sizes, modification times) to key caches;
    the sha256 of every file is computed once by the connectors and kept in the manifest."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(f"{path.relative_to(folder).as_posix()}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()
