"""Grading limits: defaults, then a unit's ``grading.toml`` [limits], then one run's options."""
from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Per-assignment grading limits (``units/NN-slug/grading.toml``, section [limits])."""
    cell_timeout: int = 300        # s of wall time per cell (nbgrader's 30 s is too short)
    notebook_timeout: int = 1800   # s of wall time per notebook, all cells together
    interrupt_grace: int = 10      # s a timed-out cell gets to stop after an interrupt
    memory_mb: int = 4096          # whole sandbox (cgroup), or address space per process
    cpu_seconds: int = 3600        # CPU time per process
    processes: int = 512           # processes and threads of the sandbox
    cpus: float = 2.0              # CPU cores' worth of time (cgroup), so workers share fairly
    output_kb: int = 1024          # output kept per cell; the rest is cut
    tmp_mb: int = 512              # the sandbox's /tmp (its home and working folder)
    file_mb: int = 256             # largest file the notebook may write
    open_files: int = 1024
    transfer_mb: int = 256         # largest value a student function may hand to the tests

    def merged(self, overrides: dict) -> "Limits":
        known = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(f"unknown grading limit(s) {unknown}; known: {sorted(known)}")
        return replace(self, **{k: type(getattr(self, k))(v) for k, v in overrides.items()})

    def as_dict(self) -> dict:
        return asdict(self)


def load_limits(unit_dir: Path | None, overrides: dict | None = None) -> Limits:
    """Defaults, then the unit's ``grading.toml`` [limits], then ``overrides``."""
    limits = Limits()
    path = unit_dir / "grading.toml" if unit_dir else None
    if path and path.exists():
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path}: not valid TOML: {exc}") from None
        try:
            limits = limits.merged(data.get("limits", {}))
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
    return limits.merged({k: v for k, v in (overrides or {}).items() if v is not None})
