"""Zip files of exports (a Slack export, a platform's data-access download, a colleague's bundle),
opened as a whole: every member is extracted into a scratch folder and read like a file of the
case, recorded as its own source ``archive.zip!folder/member`` with its own sha256.

A member whose name would land outside the scratch folder (``../``, an absolute path, a drive
letter) or that is a symbolic link is refused and named, not extracted: nothing is ever written
outside the scratch folder. The archive tools' own files (``__MACOSX/``) are not exports and are
counted, not read."""

from __future__ import annotations

import os
import re
import shutil
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from connectors.base import SourceError

TOOL_FILES = re.compile(r"(^|/)(__MACOSX/|\.DS_Store$|Thumbs\.db$)")
SYMLINK = 0o120000


@dataclass(frozen=True)
class Member:
    rel: str  # "archive.zip!folder/member"
    size: int
    path: Path | None = None  # where it was extracted; None when refused
    error: str | None = None


def is_archive(path: Path) -> bool:
    # .xlsx and .docx are zips too: only a file named .zip is opened as an archive
    return path.suffix.lower() == ".zip"


def extract(archive: Path, rel: str, scratch: Path) -> tuple[list[Member], int]:
    """Extract the safe members of ``archive`` under ``scratch``; returns (members in name order,
    number of archive-tool files skipped). Raises SourceError when the file is not a readable zip."""
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = sorted((i for i in zf.infolist() if not i.is_dir()), key=lambda i: i.filename)
            tool_files = [i for i in infos if TOOL_FILES.search(i.filename)]
            members = [_extract_one(zf, info, archive, rel, scratch) for info in infos if info not in tool_files]
    except (zipfile.BadZipFile, EOFError) as err:
        raise SourceError(archive, f"not a readable zip archive ({err}); the download may be cut off",
                          code="file-unreadable") from None
    return members, len(tool_files)


def _extract_one(zf: zipfile.ZipFile, info: zipfile.ZipInfo, archive: Path, rel: str, scratch: Path) -> Member:
    name = info.filename
    member_rel = f"{rel}!{name}"
    problem = _unsafe(info)
    if problem:
        return Member(member_rel, info.file_size, error=f"{archive.name}: member {name!r} {problem}; not extracted")
    target = scratch.joinpath(*PurePosixPath(name).parts)
    if not target.resolve().is_relative_to(scratch.resolve()):  # belt and braces after the name check
        return Member(member_rel, info.file_size, error=f"{archive.name}: member {name!r} would be written outside"
                      " the extraction folder; not extracted")
    target.parent.mkdir(parents=True, exist_ok=True)
    with zf.open(info) as src, target.open("wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    # the member's own time, so "a record after the file was written" is judged against it
    written = time.mktime((*info.date_time, 0, 0, -1))
    os.utime(target, (written, written))
    return Member(member_rel, info.file_size, path=target)


def _unsafe(info: zipfile.ZipInfo) -> str | None:
    name = info.filename.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "has an absolute path"
    if ".." in PurePosixPath(name).parts:
        return "climbs out of the archive with '..'"
    if (info.external_attr >> 16) & 0o170000 == SYMLINK:
        return "is a symbolic link"
    return None
