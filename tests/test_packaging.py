"""The installed package: a wheel of physflow holds `physflow/` and none of the bare names `flows`, `stages`,
`models` or `data_catalog` (names other projects and pickled checkpoints use), and it works installed.

The wheel goes into a fresh virtual environment that sees this environment's dependencies through a .pth file
(nothing is downloaded), so only physflow's own files come from the wheel.
"""

from __future__ import annotations

import os
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BARE = ("flows", "stages", "models", "data_catalog")


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": "", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    return subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=300, env=env, **kw)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(wheel path, python of a fresh venv with the wheel installed, its site-packages)."""
    tmp = tmp_path_factory.mktemp("wheel")
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist"),
                  str(ROOT)])
    if built.returncode != 0:
        pytest.fail(f"building the wheel failed:\n{built.stderr[-3000:]}")
    wheel = next((tmp / "dist").glob("physflow-*.whl"))
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)]).check_returncode()
    python = venv / "bin" / "python"
    purelib = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    # this environment's dependencies, read-only, behind the venv's own site-packages
    deps = [p for p in [*site.getsitepackages(), sysconfig.get_paths()["purelib"]] if Path(p).is_dir()]
    (purelib / "zz_physflow_test_deps.pth").write_text("\n".join(dict.fromkeys(deps)) + "\n")
    with zipfile.ZipFile(wheel) as archive:  # install = unpack the wheel's files into site-packages
        archive.extractall(purelib)
    return wheel, python, purelib


def test_wheel_holds_only_the_physflow_namespace(installed):
    wheel, _, _ = installed
    with zipfile.ZipFile(wheel) as archive:
        tops = {name.split("/")[0] for name in archive.namelist() if not name.split("/")[0].endswith(".dist-info")}
    assert tops == {"physflow"}, tops
    names = zipfile.ZipFile(wheel).namelist()
    for sub in BARE:
        assert f"physflow/{sub}/__init__.py" in names
    assert "physflow/stages/physics_context/data/taxonomy.toml" in names  # package data travels too
    assert "physflow/stages/physics_context/prompts/system.txt" in names


def test_bare_names_are_not_importable_installed(installed):
    _, python, purelib = installed
    for sub in BARE:
        assert not (purelib / sub).exists()
        res = _run([str(python), "-c", f"import {sub}"], cwd=purelib.parent)
        assert res.returncode != 0 and "No module named" in res.stderr, (sub, res.stderr[-500:])
    res = _run([str(python), "-c", "import physflow.flows.cli, physflow.models.registry; print(physflow.flows.cli.__file__)"],
               cwd=purelib.parent)
    assert res.returncode == 0, res.stderr[-2000:]
    assert str(purelib) in res.stdout


def test_cli_help_and_prefect_entrypoints_resolve_installed(installed):
    _, python, purelib = installed
    res = _run([str(python), "-m", "physflow.flows.cli", "--help"], cwd=purelib.parent)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "pipeline" in res.stdout
    entrypoints = [d["entrypoint"] for d in yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]]
    script = ("import sys\nfrom prefect.flows import load_flow_from_entrypoint\n"
              "for e in sys.argv[1:]:\n    print(e, load_flow_from_entrypoint(e).name)\n")
    res = _run([str(python), "-c", script, *entrypoints], cwd=purelib.parent)
    assert res.returncode == 0, res.stderr[-2000:]
    for e in entrypoints:
        assert e.startswith("physflow.flows.") and e in res.stdout
