"""A cgroup per sandbox: memory and process limits (and a fair CPU share) over all its
processes; cgroup v2, else v1; None where this process may not make one (not root, no
controller), and the sandbox falls back to rlimits (course/grade/sandbox/box.py)."""
from __future__ import annotations

import os
import signal
import threading
import uuid
from pathlib import Path

from course.grade.sandbox.limits import MiB, Limits


def _own_cgroup(controller: str) -> str | None:
    """This process's cgroup path for a v1 controller ('' key = v2)."""
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, names, path = line.split(":", 2)
            if controller in names.split(","):
                return path
    except OSError:
        pass
    return None


class ResourceGroup:
    """A cgroup for one sandbox: memory and process limits over all its processes."""

    def __init__(self, dirs: dict, version: str):
        self.dirs = dirs            # {"memory": Path, "pids": Path}
        self.version = version

    @classmethod
    def create(cls, limits: Limits, name: str) -> "ResourceGroup | None":
        """Make the cgroup, or None where this process may not (not root, no controller)."""
        if os.environ.get("COURSE_SANDBOX_NO_CGROUP") == "1":
            return None
        root = Path("/sys/fs/cgroup")
        made: list[Path] = []
        try:
            if (root / "cgroup.controllers").exists():   # unified hierarchy (v2)
                base = root / (_own_cgroup("") or "/").lstrip("/")
                if not {"memory", "pids"} <= set((base / "cgroup.subtree_control").read_text().split()):
                    return None
                d = base / name
                d.mkdir()
                made.append(d)
                (d / "memory.max").write_text(str(limits.memory_mb * MiB))
                if (d / "memory.swap.max").exists():
                    (d / "memory.swap.max").write_text("0")
                (d / "pids.max").write_text(str(limits.processes))
                if (d / "cpu.max").exists():
                    (d / "cpu.max").write_text(f"{int(limits.cpus * 100_000)} 100000")
                return cls({"memory": d, "pids": d}, "v2")
            dirs = {}
            for ctrl in ("memory", "pids"):
                own = _own_cgroup(ctrl)
                if own is None or not (root / ctrl).is_dir():
                    raise OSError(f"no {ctrl} controller")
                d = root / ctrl / own.lstrip("/") / name
                d.mkdir()
                made.append(d)
                dirs[ctrl] = d
            (dirs["memory"] / "memory.limit_in_bytes").write_text(str(limits.memory_mb * MiB))
            memsw = dirs["memory"] / "memory.memsw.limit_in_bytes"
            if memsw.exists():
                try:  # no swap either: the limit is on memory + swap
                    memsw.write_text(str(limits.memory_mb * MiB))
                except OSError:
                    pass
            (dirs["pids"] / "pids.max").write_text(str(limits.processes))
            own = _own_cgroup("cpu")
            if own is not None and (root / "cpu").is_dir():  # optional: fairness only
                try:
                    d = root / "cpu" / own.lstrip("/") / name
                    d.mkdir()
                    made.append(d)
                    dirs["cpu"] = d
                    (d / "cpu.cfs_period_us").write_text("100000")
                    (d / "cpu.cfs_quota_us").write_text(str(int(limits.cpus * 100_000)))
                except OSError:
                    dirs.pop("cpu", None)
            return cls(dirs, "v1")
        except OSError:
            for d in made:
                try:
                    d.rmdir()
                except OSError:
                    pass
            return None

    def procs_files(self) -> list[str]:
        return sorted({str(d / "cgroup.procs") for d in self.dirs.values()})

    def oom_killed(self) -> bool:
        try:
            if self.version == "v2":
                text = (self.dirs["memory"] / "memory.events").read_text()
            else:
                text = (self.dirs["memory"] / "memory.oom_control").read_text()
            counts = dict(line.split() for line in text.splitlines() if len(line.split()) == 2)
            return int(counts.get("oom_kill", 0)) > 0
        except (OSError, ValueError):
            return False

    def peak_mb(self) -> float | None:
        name = "memory.peak" if self.version == "v2" else "memory.max_usage_in_bytes"
        try:
            return int((self.dirs["memory"] / name).read_text()) / MiB
        except (OSError, ValueError):
            return None

    def pids(self) -> list[int]:
        out = set()
        for d in self.dirs.values():
            try:
                out |= {int(p) for p in (d / "cgroup.procs").read_text().split()}
            except (OSError, ValueError):
                pass
        return sorted(out)

    def kill_all(self) -> None:
        for _ in range(50):  # a fork bomb may add processes while we kill: repeat
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            threading.Event().wait(0.02)

    def remove(self) -> None:
        self.kill_all()
        for d in set(self.dirs.values()):
            for _ in range(100):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # processes still exiting
                    threading.Event().wait(0.02)


def memory_backend() -> str:
    """'cgroup-v2', 'cgroup-v1' or 'rlimit': how the memory limit is enforced here."""
    group = ResourceGroup.create(Limits(), f"course-probe-{uuid.uuid4().hex[:12]}")
    if group is None:
        return "rlimit"
    group.remove()
    return f"cgroup-{group.version}"


def remove_groups(listing: Path) -> None:
    """Remove the cgroups named in ``listing`` (a sandbox's record of its own groups,
    found by course/grade/scratch.py in the private folder of a run that was killed)."""
    try:
        lines = listing.read_text().splitlines()
    except OSError:
        return
    for line in lines:
        version, _, path = line.partition(" ")
        d = Path(path)
        if d.is_dir() and d.is_relative_to("/sys/fs/cgroup"):
            ResourceGroup({"memory": d}, version).remove()
