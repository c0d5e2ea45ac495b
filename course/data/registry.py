"""The registry of data sets and pretrained models (``datasets/registry.toml``).

The TOML file is data, not code: this module parses and checks it, and looks
entries up by name (suggesting close names on a typo).
"""
from __future__ import annotations

import difflib
import os
import sys
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from course.data.errors import DataError, UnknownDatasetError

REGISTRY_ENV = "COURSE_DATA_REGISTRY"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class FileSpec:
    """One file: where it lives (same relative path in every mirror and in the cache)
    and what its content must hash to."""

    entry: str
    path: str
    sha256: str
    size: int | None = None
    compression: str | None = None  # "gzip": sha256/size describe the decompressed content
    urls: tuple[str, ...] = ()
    package: str | None = None  # import name of a Python package that ships the file
    package_path: str | None = None  # path inside that package
    pip: str | None = None  # how to install that package
    md5: str | None = None  # md5 of the canonical download, for reference only

    @property
    def name(self) -> str:
        return PurePosixPath(self.path).name


@dataclass(frozen=True)
class Variant:
    """One way of getting an entry (e.g. CIFAR-10 as pickles or as JPEGs)."""

    name: str
    files: tuple[FileSpec, ...]
    lossy: bool = False
    description: str = ""


@dataclass(frozen=True)
class Entry:
    name: str
    section: str  # "datasets" or "models"
    title: str
    what: str
    licence: str
    citation: str
    homepage: str = ""
    source: str = ""
    loader: str = ""
    kind: str = "files"  # "files" or "generated"
    variants: tuple[Variant, ...] = ()
    reference: dict = field(default_factory=dict)  # generated sets: the expected hash of a sample
    notes: str = ""

    @property
    def files(self) -> tuple[FileSpec, ...]:
        return tuple(f for v in self.variants for f in v.files)

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        raise DataError(f"{self.name} has no variant {name!r}; it has {[v.name for v in self.variants]}")

    def size_bytes(self) -> int:
        """Size of the first (preferred) variant's content."""
        return sum(f.size or 0 for f in self.variants[0].files) if self.variants else 0


def normalise(name: str) -> str:
    """'Fashion_MNIST' and 'fashion-mnist' name the same entry."""
    return name.strip().lower().replace("_", "-").replace(" ", "-")


def _check_file(entry: str, raw: dict, where: str) -> FileSpec:
    def bad(msg: str) -> DataError:
        return DataError(f"{where}: entry {entry!r}, file {raw.get('path')!r}: {msg}")

    path = raw.get("path")
    if not isinstance(path, str) or not path or path.startswith("/") or ".." in PurePosixPath(path).parts:
        raise bad("'path' must be a relative path without '..'")
    sha = raw.get("sha256", "")
    if not _HEX64.match(sha):
        raise bad("'sha256' must be 64 lower-case hex digits")
    comp = raw.get("compression")
    if comp not in (None, "gzip"):
        raise bad("'compression' must be 'gzip' or absent")
    if ("package" in raw) != ("package_path" in raw):
        raise bad("'package' and 'package_path' go together")
    known = {"path", "sha256", "size", "compression", "urls", "package", "package_path", "pip", "md5"}
    extra = set(raw) - known
    if extra:
        raise bad(f"unknown keys {sorted(extra)}")
    return FileSpec(
        entry=entry, path=path, sha256=sha, size=raw.get("size"), compression=comp,
        urls=tuple(raw.get("urls", ())), package=raw.get("package"),
        package_path=raw.get("package_path"), pip=raw.get("pip"), md5=raw.get("md5"),
    )


def _parse_entry(section: str, name: str, raw: dict, where: str) -> Entry:
    for key in ("title", "licence", "citation"):
        if not raw.get(key):
            raise DataError(f"{where}: entry {name!r} lacks {key!r}")
    if "files" in raw and "variants" in raw:
        raise DataError(f"{where}: entry {name!r} has both 'files' and 'variants'")
    if "files" in raw:
        variants = (Variant("default", tuple(_check_file(name, f, where) for f in raw["files"])),)
    else:
        variants = tuple(
            Variant(v["name"], tuple(_check_file(name, f, where) for f in v.get("files", ())),
                    bool(v.get("lossy", False)), v.get("description", ""))
            for v in raw.get("variants", ())
        )
    kind = raw.get("kind", "files")
    if kind not in ("files", "generated"):
        raise DataError(f"{where}: entry {name!r}: kind must be 'files' or 'generated'")
    if kind == "files" and not any(v.files for v in variants):
        raise DataError(f"{where}: entry {name!r} lists no files")
    return Entry(
        name=name, section=section, title=raw["title"], what=raw.get("what", ""),
        licence=raw["licence"], citation=raw["citation"], homepage=raw.get("homepage", ""),
        source=raw.get("source", ""), loader=raw.get("loader", ""), kind=kind,
        variants=variants, reference=dict(raw.get("reference", {})), notes=raw.get("notes", ""),
    )


class Registry:
    """All entries of one registry file, looked up by (normalised) name."""

    def __init__(self, entries: dict[str, Entry], path: Path | None = None):
        self.entries = entries
        self.path = path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Registry":
        path = Path(path)
        try:
            with open(path, "rb") as fh:
                raw = tomllib.load(fh)
        except FileNotFoundError:
            raise DataError(
                f"The data registry {path} is missing. It ships with the course repository "
                f"(datasets/registry.toml); set {REGISTRY_ENV} to its path if you moved it."
            ) from None
        except tomllib.TOMLDecodeError as e:
            raise DataError(f"The data registry {path} is not valid TOML: {e}") from None
        entries: dict[str, Entry] = {}
        for section in ("datasets", "models"):
            for name, body in raw.get(section, {}).items():
                if normalise(name) != name:
                    raise DataError(f"{path}: entry names are lower-case with hyphens, got {name!r}")
                if name in entries:
                    raise DataError(f"{path}: {name!r} appears twice")
                entries[name] = _parse_entry(section, name, body, str(path))
        return cls(entries, path)

    def names(self, section: str | None = None) -> list[str]:
        return [n for n, e in self.entries.items() if section is None or e.section == section]

    def get(self, name: str) -> Entry:
        key = normalise(name)
        if key in self.entries:
            return self.entries[key]
        close = difflib.get_close_matches(key, list(self.entries), n=3, cutoff=0.5)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise UnknownDatasetError(
            f"There is no data set or model called {name!r}.{hint} "
            f"Known names: {', '.join(sorted(self.entries))}."
        )

    def __iter__(self):
        return iter(self.entries.values())

    def __len__(self) -> int:
        return len(self.entries)


def default_registry_path() -> Path:
    env = os.environ.get(REGISTRY_ENV)
    if env:
        return Path(env)
    # course/data/registry.py -> repository root -> datasets/registry.toml
    in_repo = Path(__file__).resolve().parents[2] / "datasets" / "registry.toml"
    # A pip install from git (Colab) has no repository: pyproject.toml installs the
    # registry as a data file under <prefix>/share/open-dl-course/.
    installed = Path(sys.prefix) / "share" / "open-dl-course" / "registry.toml"
    return in_repo if in_repo.exists() or not installed.exists() else installed


_cache: dict[tuple[str, int], Registry] = {}


def load_registry(path: str | os.PathLike | None = None) -> Registry:
    """The registry at ``path`` (default: $COURSE_DATA_REGISTRY or datasets/registry.toml)."""
    p = Path(path) if path is not None else default_registry_path()
    try:
        key = (str(p.resolve()), p.stat().st_mtime_ns)
    except OSError:
        return Registry.load(p)  # raises the friendly "missing" error
    if key not in _cache:
        _cache[key] = Registry.load(p)
    return _cache[key]


def get_entry(name: str, registry: Registry | None = None) -> Entry:
    return (registry or load_registry()).get(name)
