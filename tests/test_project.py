"""Project wiring: dependency lists in step, the README's commands, CI's test command."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
CONDA_TO_PIP = {"pytorch": "torch"}  # conda-forge's name for the same package


def _split(requirement: str) -> tuple[str, str]:
    m = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)\s*(.*?)\s*", requirement)
    assert m, requirement
    return m.group(1).lower(), m.group(2).replace(" ", "")


def pyproject_requirements() -> dict[str, str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = meta["dependencies"] + meta["optional-dependencies"]["test"]
    return dict(_split(r) for r in reqs)


def environment_requirements() -> dict[str, str]:
    """The conda dependencies of environment.yml (a flat list: no YAML library needed)."""
    deps, in_deps = {}, False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        text = line.split("#", 1)[0].rstrip()
        if text.startswith("dependencies:"):
            in_deps = True
            continue
        m = re.fullmatch(r"  - ([^:]+)", text)
        if in_deps and m:
            name, bound = _split(m.group(1))
            if name not in ("python", "pip"):
                deps[CONDA_TO_PIP.get(name, name)] = bound
    return deps


def test_environment_yml_lists_the_same_packages_and_bounds_as_pyproject():
    assert environment_requirements() == pyproject_requirements()


def test_dependencies_have_lower_bounds_not_pins():
    for name, bound in pyproject_requirements().items():
        assert bound.startswith(">="), f"{name} should have a lower bound, not {bound!r}"


def test_environment_yml_uses_conda_forge_and_python_311():
    text = (ROOT / "environment.yml").read_text()
    assert "- conda-forge" in text and "- python=3.11" in text


def readme_test_command() -> str:
    readme = (ROOT / "README.md").read_text()
    m = re.search(r"^make test\b", readme, re.MULTILINE)
    assert m, "README must give `make test` as the test command"
    return "make test"


def test_ci_runs_exactly_the_readme_test_command():
    lines = [ln.strip() for ln in (ROOT / ".ci/run").read_text().splitlines()]
    commands = [ln for ln in lines if ln and not ln.startswith("#")]
    assert commands[-1] == readme_test_command()
    assert "set -euo pipefail" in commands
    assert any("dataset-fashion-mnist" in c and "chromium" in c for c in commands)


def test_makefile_has_the_documented_targets():
    targets = set(re.findall(r"^([a-z]+):", (ROOT / "Makefile").read_text(), re.MULTILINE))
    readme = (ROOT / "README.md").read_text()
    for target in re.findall(r"^make ([a-z]+)", readme, re.MULTILINE):
        assert target in targets, f"README documents `make {target}` but the Makefile lacks it"
    assert {"lab", "test", "run"} <= targets


def test_top_level_layout():
    for name in ("notebooks", "aelib", "image", "tests", "benchmarks", "environment.yml",
                 "README.md", "pyproject.toml", "Makefile", ".ci/run"):  # fmt: skip
        assert (ROOT / name).exists(), name


def test_every_package_of_aelib_is_configured_for_a_non_editable_install():
    """setuptools' find with these patterns must reach every folder that has an __init__.py."""
    from setuptools import find_packages

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = set(find_packages(str(ROOT), **config["packages"]["find"]))
    on_disk = {str(p.parent.relative_to(ROOT)).replace("/", ".")
               for p in (ROOT / "aelib").rglob("__init__.py")}  # fmt: skip
    assert on_disk == found and "aelib.exercises" in found


def test_binder_reads_postbuild_next_to_environment_yml():
    """repo2docker ignores the root files when a binder/ folder exists."""
    post = ROOT / "postBuild"
    assert not (ROOT / "binder").exists() and not (ROOT / ".binder").exists()
    assert post.stat().st_mode & 0o111, "postBuild must be executable"
    lines = [ln for ln in post.read_text().splitlines() if ln and not ln.startswith("#")]
    assert lines[0] == "set -euo pipefail" and lines[-1] == "python -m aelib.zoo"
    assert "AELIB_STRICT_DATA=1" in post.read_text()
    assert "-e ." in (ROOT / "environment.yml").read_text()  # postBuild runs from a checkout
