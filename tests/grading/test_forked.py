"""Kernels forked from a template (course/grade/sandbox/forkserver.py): each is a fresh
sandbox of its own, as a kernel bubblewrap starts is: its own uid, /tmp, /proc, cgroup and
namespaces, no capabilities and no network, with the framework already imported."""
from __future__ import annotations

import ast
import os
import socket

import pytest
from jupyter_client.blocking import BlockingKernelClient

from course.grade.sandbox import forkserver, warm
from course.grade.sandbox.limits import Limits

pytestmark = pytest.mark.skipif(not forkserver.possible(),
                                reason="templates need root, Linux and bubblewrap")

PROBE = r'''
import os, socket, sys
status = dict(l.split(":\t", 1) for l in open("/proc/self/status").read().splitlines() if ":\t" in l)
def reach(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return True
    except OSError:
        return False
open("/tmp/mine-{tag}", "w").write("x")
print(repr({{
    "uid": os.getuid(), "caps": [status[k].strip() for k in ("CapEff", "CapPrm", "CapBnd")],
    "no_new_privs": status["NoNewPrivs"].strip(), "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
    "tmp": sorted(os.listdir("/tmp")), "other": os.path.exists({other!r}),
    "hostname": socket.gethostname(), "reach": reach({port}),
    "framework_loaded": "torch" in sys.modules, "name_bound": "torch" in globals(),
    "folder_fds": [fd for fd in os.listdir("/proc/self/fd") if os.path.isdir("/proc/self/fd/" + fd)],
}}))
'''


def _execute(kernel, code: str, *, wait: bool = True) -> str:
    kc = BlockingKernelClient()
    kc.load_connection_info(kernel.km.get_connection_info())
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        if not wait:
            kc.execute(code)
            return ""
        out = []
        kc.execute_interactive(code, timeout=60, output_hook=lambda m: out.append(
            m["content"].get("text") or "".join(m["content"].get("traceback") or [])))
        return "".join(out)
    finally:
        kc.stop_channels()


def test_two_forked_kernels_are_two_sandboxes():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    key = warm.key_of(Limits(), "pytorch", "python3", [])
    a = warm._start(key, Limits(), "pytorch", "python3", [], None)
    b = warm._start(key, Limits(), "pytorch", "python3", [], None)
    try:
        assert a.forked and b.forked
        found = {}
        for tag, mine, other in (("a", a, b), ("b", b, a)):
            printed = _execute(mine, PROBE.format(tag=tag, other=str(other.box.exchange), port=port))
            found[tag] = ast.literal_eval(printed.strip().splitlines()[-1])
            # the host sees the kernel in the cgroup made for its sandbox, and nowhere else
            pid = mine.km.kernel_pid()
            assert pid is not None and pid in mine.box.group.pids()
            assert pid not in other.box.group.pids()
        template = forkserver.get("pytorch")
        for tag, f in found.items():
            assert f["uid"] not in (0, os.getuid()), f
            assert f["caps"] == ["0000000000000000"] * 3 and f["no_new_privs"] == "1", f
            assert f["pids"] == [1, 2], f              # its own PID namespace: init and kernel
            assert f["hostname"] == "grading" and not f["reach"], f
            assert not f["other"], "a kernel sees another kernel's exchange folder"
            assert f"mine-{'b' if tag == 'a' else 'a'}" not in f["tmp"], "a shared /tmp"
            assert f["framework_loaded"] and not f["name_bound"], f
            assert not f["folder_fds"], "a kernel holds a descriptor of a folder"
        assert found["a"]["uid"] != found["b"]["uid"]
        assert template is not None and template.alive()
    finally:
        a.close()
        b.close()
        listener.close()
    warm.close_all()
    assert not forkserver._templates


def test_a_kernel_killed_by_a_signal_reports_it_as_bubblewrap_does():
    key = warm.key_of(Limits(), "pytorch", "python3", [])
    kernel = warm._start(key, Limits(), "pytorch", "python3", [], None)
    try:
        _execute(kernel, "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)", wait=False)
        assert kernel.km.provisioner.process.wait(30) == 128 + 11
    finally:
        kernel.close()
        warm.close_all()
