"""The sandbox itself (course/grade/sandbox/box.py), one sandboxed process at a time: what it can
see, reach and use; and that grading refuses to run student code when it cannot start."""
from __future__ import annotations

import socket
import sys
import textwrap
from pathlib import Path

import pytest

from course.grade.sandbox import box
from course.grade.sandbox.limits import Limits, load_limits
from course.layout import Layout


def run_py(code: str, limits=None, timeout=60):
    res = box.run([sys.executable, "-c", textwrap.dedent(code)], limits, timeout=timeout)
    return res.returncode, res.stdout.decode(), res.stderr.decode()


def test_check_sandbox_describes_it():
    line = box.check_sandbox()
    assert line.startswith("sandbox: bubblewrap") and "no network" in line


def test_only_the_allow_list_is_visible_and_nothing_is_writable(tmp_path):
    root = Layout.default().root
    secret = tmp_path / "instructor-secret.txt"
    secret.write_text("hidden tests")
    name = tmp_path.name
    code, out, err = run_py(f"""
        import os
        root = {str(root)!r}
        print("listing", sorted(p for p in os.listdir(root) if not p.startswith(".")))
        for path in [root + "/solutions", root + "/units", root + "/autograder",
                     {str(secret)!r}, "/home", "/root/.bashrc"]:
            print("exists", path, os.path.exists(path))
        # /root shows only where Python or the course data cache live under it: nothing else
        seen = [os.path.join(d, f) for d, dirs, files in os.walk("/root") for f in dirs + files]
        print("root home", sorted(p for p in seen if p.count("/") <= 4))
        for path in [root + "/course/check.py", root + "/new.txt", "/usr/x", "/etc/x"]:
            try:
                open(path, "a").write("x")
                print("wrote", path)
            except OSError as exc:
                print("refused", path, exc.errno)
        open("/tmp/sandbox-only-{name}", "w").write("ok")
        print("uid", os.getuid(), "caps", open("/proc/self/status").read().split("CapEff:")[1].split()[0])
    """)
    assert code == 0, err
    assert "listing ['course', 'datasets']" in out       # datasets/: the registry file alone
    exists = [line for line in out.splitlines() if line.startswith("exists")]
    assert len(exists) == 6 and all(line.endswith("False") for line in exists)
    allowed = [str(p) for p in box._python_roots() + box._data_dirs()]
    visible = eval(out.split("root home ")[1].split("\n")[0])
    assert all(any(a == v or a.startswith(v + "/") or v.startswith(a + "/") for a in allowed)
               for v in visible), visible
    assert "wrote" not in out and out.count("refused") == 4
    uid = int(out.split("uid ")[1].split()[0])
    assert uid != 0 and "caps 0000000000000000" in out
    assert not (root / "new.txt").exists() and not Path(f"/tmp/sandbox-only-{name}").exists()


def test_the_data_layer_reads_the_graders_registry():
    """A notebook's data cells must work in the sandbox: the registry lives in the
    repository's datasets/ folder, which is otherwise out of sight."""
    from course.data.registry import load_registry
    code, out, err = run_py("""
        import os
        from course.data.registry import load_registry, default_registry_path
        print("registry", default_registry_path(), len(load_registry().entries))
        print("datasets/", sorted(os.listdir(os.path.dirname(str(default_registry_path())))))
    """)
    assert code == 0, err
    assert f"registry {box._registry_file()} {len(load_registry().entries)}" in out
    assert "datasets/ ['registry.toml']" in out


def test_no_network_not_even_the_graders_loopback():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        code, out, err = run_py(f"""
            import socket
            for host, port in [("127.0.0.1", {port}), ("1.1.1.1", 53)]:
                try:
                    socket.create_connection((host, port), timeout=3)
                    print("connected", host)
                except OSError as exc:
                    print("blocked", host, exc.errno)
        """)
    finally:
        listener.close()
    assert code == 0, err
    assert "connected" not in out and out.count("blocked") == 2


def test_cpu_time_limit_stops_a_busy_loop():
    code, _, _ = run_py("while True: pass", Limits(cpu_seconds=1), timeout=120)
    assert code in (128 + 24, 128 + 9)  # SIGXCPU at the soft limit, SIGKILL at the hard one


def test_process_limit_stops_a_fork_bomb():
    code, out, err = run_py("""
        import os, time
        n = 0
        try:
            while True:
                if os.fork() == 0:
                    time.sleep(30)
                    os._exit(0)
                n += 1
        except OSError as exc:
            print("stopped after", n, "children, errno", exc.errno, flush=True)
            os._exit(0)
    """, Limits(processes=40))
    assert code == 0, err
    assert int(out.split("after ")[1].split()[0]) < 40


def test_memory_limit():
    code, out, _ = run_py("""
        import numpy as np
        blocks = []
        try:
            for _ in range(40):
                blocks.append(np.ones(2**25))   # 256 MiB each
            print("allocated 10 GiB")
        except MemoryError:
            print("MemoryError")
    """, Limits(memory_mb=1024))
    assert "allocated" not in out
    if box.memory_backend() == "rlimit":
        assert "MemoryError" in out
    else:
        assert code == 128 + 9  # the cgroup's OOM killer


def test_file_size_limit():
    code, out, _ = run_py("""
        import signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        try:
            open("/tmp/big", "wb").write(b"x" * (4 * 2**20))
            print("wrote 4 MiB")
        except OSError as exc:
            print("refused", exc.errno)
    """, Limits(file_mb=1))
    assert "refused 27" in out  # EFBIG


def test_a_sandbox_that_cannot_start_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("COURSE_BWRAP", "/bin/false")
    with pytest.raises(box.SandboxError, match="--no-sandbox"):
        box.check_sandbox()
    monkeypatch.setenv("COURSE_BWRAP", "")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(box.SandboxError, match="apt-get install -y bubblewrap"):
        box.check_sandbox()


def test_limits_come_from_grading_toml(tmp_path):
    (tmp_path / "grading.toml").write_text("[limits]\ncell_timeout = 900\nmemory_mb = 6144\n")
    limits = load_limits(tmp_path, {"memory_mb": 2048})
    assert (limits.cell_timeout, limits.memory_mb, limits.notebook_timeout) == (900, 2048, 1800)
    (tmp_path / "grading.toml").write_text("[limits]\ncell_timout = 900\n")
    with pytest.raises(ValueError, match="cell_timout"):
        load_limits(tmp_path)
