"""The optional features: the core imports without their packages, and a feature whose extra is missing fails
with the ``pip install`` line of that extra (the missing package simulated by a None in ``sys.modules``)."""

import subprocess
import sys

import pytest

from sb3_iterative import IterativeSAC
from sb3_iterative.extras import import_extra

from helpers import SMALL


def hide(monkeypatch: pytest.MonkeyPatch, package: str) -> None:
    """Make ``package`` and its submodules unimportable, as if it were not installed."""
    for name in [name for name in sys.modules if name == package or name.startswith(package + ".")] + [package]:
        monkeypatch.setitem(sys.modules, name, None)


def test_import_extra_names_the_install_line(monkeypatch):
    assert import_extra("json", "report", "a feature").dumps([1]) == "[1]"
    hide(monkeypatch, "json")
    message = r'a feature needs json, which is not installed: pip install "sb3-iterative\[report]"'
    with pytest.raises(ImportError, match=message):
        import_extra("json", "report", "a feature")


def test_flow_policy_without_zuko_names_the_flow_extra(monkeypatch):
    IterativeSAC("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(actor="flow", net_arch=[8], flow_net_arch=[8]), **SMALL)
    hide(monkeypatch, "zuko")
    with pytest.raises(ImportError, match=r'actor=.flow.\) needs zuko.*pip install "sb3-iterative\[flow\]"'):
        IterativeSAC("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(actor="flow", net_arch=[8], flow_net_arch=[8]), **SMALL)
    IterativeSAC("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(net_arch=[8]), **SMALL)  # the iterative actor needs none


def test_core_imports_without_the_extras():
    """Training, acting and rl-zoo3's command lines import none of the extras' packages."""
    blocked = ("zuko", "scipy", "moviepy", "ray", "seaborn", "rliable")
    code = (
        f"import sys\nfor name in {blocked!r}: sys.modules[name] = None\n"
        "import sb3_iterative, sb3_iterative.train, sb3_iterative.enjoy, sb3_iterative.record_video, sb3_iterative.zoo\n"
        "from sb3_iterative import IterativeSAC, IterativeTQC, IterativeCrossQ\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_report_without_scipy_names_the_report_extra(monkeypatch, tmp_path, capsys):
    from sb3_iterative.compare.__main__ import main

    monkeypatch.delitem(sys.modules, "sb3_iterative.compare.report", raising=False)
    hide(monkeypatch, "scipy")
    assert main(["--report", "-f", str(tmp_path), "--out", str(tmp_path / "report")]) == 2
    assert 'The comparison report (--report) needs scipy, which is not installed: pip install "sb3-iterative[report]"' in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize(
    "command, argv, package, extra",
    [
        ("sb3_iterative.analyze", ["model.zip", "--env", "Pendulum-v1", "--out", "out"], "scipy", "analysis"),
        ("sb3_iterative.record_video", None, "moviepy", "video"),
    ],
)
def test_command_lines_without_their_extra_name_it(monkeypatch, command, argv, package, extra):
    main = __import__(command, fromlist=["main"]).main
    hide(monkeypatch, package)
    with pytest.raises(ImportError, match=rf'needs {package}, which is not installed: pip install "sb3-iterative\[{extra}]"'):
        main(argv) if argv is not None else main()


def test_ray_executor_without_ray_names_the_ray_extra(monkeypatch):
    from sb3_iterative.compare.executors import RayExecutor

    hide(monkeypatch, "ray")
    with pytest.raises(ImportError, match=r'--executor ray needs ray, .* pip install "sb3-iterative\[ray]"'):
        RayExecutor("local", 1)


def test_policy_modes_without_scipy_name_the_analysis_extra(monkeypatch):
    from sb3_iterative import analysis

    model = IterativeSAC("MlpPolicy", "Pendulum-v1", seed=0, policy_kwargs=dict(net_arch=[8]), **SMALL)
    states = [model.observation_space.sample() for _ in range(2)]
    hide(monkeypatch, "scipy")
    with pytest.raises(ImportError, match=r'policy modes.*needs scipy.*pip install "sb3-iterative\[analysis\]"'):
        analysis.policy_modes(model, states, n_runs=4).n_modes()
