"""Open zip archives (zipped Shapefiles, .xlsx workbooks) without trusting them.

Checked before anything is extracted: the number of members, the total declared uncompressed size, each
member's compression ratio, and names that would leave the target folder (absolute paths, `..`, drive
letters, symbolic links). While extracting, the bytes actually written are counted too, so an archive
that lies about its sizes stops at the limit.
"""

from __future__ import annotations

import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from geo.errors import InvalidInput

CHUNK = 1 << 16


@dataclass(frozen=True)
class ZipLimits:
    max_members: int = 1_000
    max_total_bytes: int = 1 << 30  # 1 GiB uncompressed in all
    max_ratio: float = 200.0  # uncompressed / compressed, per member larger than 1 MB


def _bad(reason: str, reason_zh: str) -> InvalidInput:
    return InvalidInput.one("file", reason, reason_zh)


def open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise _bad(
            "not a readable zip archive (truncated or corrupt)",
            "不是完整的 zip 压缩文件（文件不完整或已损坏）",
        ) from None
    except OSError as exc:
        raise _bad(f"cannot read the archive: {exc.strerror or exc}", "无法读取压缩文件") from None


def _safe_name(name: str) -> bool:
    p = PurePosixPath(name.replace("\\", "/"))
    return not (p.is_absolute() or ".." in p.parts or (p.parts and ":" in p.parts[0]))


def check_members(zf: zipfile.ZipFile, limits: ZipLimits) -> list[zipfile.ZipInfo]:
    """Every member, after the checks above; raises InvalidInput naming the first problem."""
    infos = zf.infolist()
    if len(infos) > limits.max_members:
        raise _bad(
            f"the archive holds {len(infos)} files; at most {limits.max_members} are accepted",
            f"压缩文件包含 {len(infos)} 个文件，最多允许 {limits.max_members} 个",
        )
    total = 0
    for info in infos:
        if not _safe_name(info.filename):
            raise _bad(
                f"unsafe path in the archive: {info.filename!r}", f"压缩文件中的路径不安全：{info.filename}"
            )
        if stat.S_ISLNK(info.external_attr >> 16):
            raise _bad(
                f"the archive holds a symbolic link: {info.filename!r}",
                f"压缩文件包含符号链接：{info.filename}",
            )
        total += info.file_size
        if info.file_size > 1 << 20 and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise _bad(
                f"{info.filename!r} expands {info.file_size / max(info.compress_size, 1):.0f} times "
                f"(at most {limits.max_ratio:.0f}): refused as a zip bomb",
                f"{info.filename} 压缩比异常，疑为压缩炸弹，已拒绝",
            )
    if total > limits.max_total_bytes:
        raise _bad(
            f"the archive expands to {total} bytes; at most {limits.max_total_bytes} are accepted",
            "压缩文件解压后过大",
        )
    return infos


def extract(zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo], target: Path, limits: ZipLimits) -> list[Path]:
    """Extract the given members flat into `target` (their folders dropped), counting real bytes."""
    written = 0
    out = []
    for info in infos:
        if info.is_dir():
            continue
        dest = target / PurePosixPath(info.filename.replace("\\", "/")).name
        try:
            with zf.open(info) as src, dest.open("wb") as dst:
                remaining = info.file_size
                while chunk := src.read(CHUNK):
                    written += len(chunk)
                    remaining -= len(chunk)
                    if remaining < 0 or written > limits.max_total_bytes:
                        raise _bad(
                            f"{info.filename!r} is larger than the archive says: refused",
                            "压缩文件内容与声明不符，已拒绝",
                        )
                    dst.write(chunk)
        except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile, zlib.error) as exc:
            raise _bad(
                f"cannot extract {info.filename!r}: the archive is truncated or corrupt ({exc})",
                f"无法解压 {info.filename}：压缩文件不完整或已损坏",
            ) from None
        except NotImplementedError as exc:
            raise _bad(f"cannot extract {info.filename!r}: {exc}", f"无法解压 {info.filename}") from None
        out.append(dest)
    return out
