"""course.setup: seeds, device, quiet TensorFlow, one summary line (in fresh processes,
as a notebook kernel would be)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from course.runtime import Env, framework_name

SNIPPETS = {
    "pytorch": "import torch; print(torch.randn(3).tolist(), env.device, env.gpu)",
    "tensorflow": "import tensorflow as tf; print(tf.random.normal([3]).numpy().tolist(), "
                  "env.device, env.gpu)",
}


def run(code: str, **env_extra) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    env.update(env_extra)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120)


@pytest.mark.parametrize("fw", ["pytorch", "tensorflow"])
def test_setup_is_deterministic_quiet_and_summarised(fw):
    code = f"import course; env = course.setup({fw!r}, seed=3); {SNIPPETS[fw]}"
    first, second = run(code), run(code)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.strip().splitlines()
    assert len(lines) == 2, first.stdout  # the summary line, then the snippet
    title = {"pytorch": "PyTorch 2.13.0", "tensorflow": "TensorFlow 2.21.0"}[fw]
    assert title in lines[0] and "seed 3" in lines[0] and "device" in lines[0]
    assert first.stdout == second.stdout  # same seed, same numbers
    assert first.stderr == "", first.stderr  # TensorFlow's C++ start-up logs are silenced
    other = run(code.replace("seed=3", "seed=4"))
    assert other.stdout.splitlines()[1] != lines[1]


def test_force_cpu():
    out = run("import course; env = course.setup('pytorch', verbose=False); print(env.device)",
              COURSE_FORCE_CPU="1")
    assert out.stdout.strip() == "cpu"


def test_env_scale_picks_by_hardware():
    assert Env("pytorch", 0, "cpu", False).scale(100, 1000) == 100
    assert Env("pytorch", 0, "cuda", True).scale(100, 1000) == 1000


def test_framework_names():
    assert framework_name("torch") == framework_name("PyTorch") == "pytorch"
    assert framework_name("tf") == framework_name("keras") == "tensorflow"
    with pytest.raises(ValueError, match="unknown framework 'jax'"):
        framework_name("jax")


def test_importing_course_imports_no_framework():
    out = run("import sys, course, course.check, course.plot; "
              "print('torch' in sys.modules, 'tensorflow' in sys.modules)")
    assert out.stdout.strip() == "False False"
