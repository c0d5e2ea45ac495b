"""The pip path and the conda path describe the same versions; the CPU default is right."""
from __future__ import annotations

import re

import yaml

from conftest import LAYOUT

CONDA_NAMES = {"pytorch": "torch"}  # conda-forge name -> PyPI name


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pip_pins(*files) -> dict:
    pins = {}
    for name in files:
        for line in (LAYOUT.root / name).read_text().splitlines():
            line = line.split("#")[0].strip()
            if "==" in line:
                pkg, version = line.split("==")
                pins[norm(pkg.split("[")[0])] = version
    return pins


def conda_pins() -> dict:
    env = yaml.safe_load((LAYOUT.root / "environment.yml").read_text())
    pins = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for line in dep["pip"]:
                pkg, version = line.split("==")
                pins[norm(pkg)] = version
        elif "=" in dep and not dep.startswith("python="):
            pkg, version = dep.split("=")
            pins[norm(CONDA_NAMES.get(pkg, pkg))] = version
    return pins


def test_pip_and_conda_pin_the_same_versions():
    assert pip_pins("requirements.txt", "requirements-common.txt") == conda_pins()


def test_cpu_default_and_gpu_variant():
    cpu = pip_pins("requirements.txt", "requirements-common.txt")
    gpu = pip_pins("requirements-gpu.txt", "requirements-common.txt")
    assert cpu["torch"] == gpu["torch"] == "2.13.0"
    assert cpu["tensorflow-cpu"] == gpu["tensorflow"] == "2.21.0"
    assert "tensorflow" not in cpu and "tensorflow-cpu" not in gpu  # never both
    for banned in ("torchvision", "timm"):
        assert banned not in cpu and banned not in gpu


def test_constraints_agree_with_requirements():
    constraints = pip_pins("constraints.txt")
    for pkg, version in pip_pins("requirements.txt", "requirements-common.txt").items():
        assert constraints.get(pkg) == version, pkg


def test_installed_versions_match_the_pins():
    from importlib.metadata import version
    for pkg in ("torch", "tensorflow-cpu", "keras", "numpy", "nbgrader", "nbval", "jupytext"):
        want = pip_pins("requirements.txt", "requirements-common.txt")[pkg]
        assert version(pkg).split("+")[0] == want, pkg
