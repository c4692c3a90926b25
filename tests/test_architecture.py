"""The dependency arrows point one way, vizlab -> engine.experiments -> engine core: the
engine never imports Qt, plotting or the app, and the export modules import each other in
no circle. Checked by import-linter's contracts in pyproject.toml."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_linter_contract_holds():
    lint_imports = Path(sys.executable).parent / "lint-imports"
    assert lint_imports.exists(), "import-linter is a test dependency (pip install -e .[test])"
    result = subprocess.run(
        [str(lint_imports), "--config", str(ROOT / "pyproject.toml")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stdout + result.stderr  # import-linter: every contract kept


def test_the_contracts_include_the_layers_and_no_export_circle():
    import tomllib

    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    kinds = {contract["type"]: contract for contract in contracts}
    assert kinds["layers"]["layers"][:2] == ["vizlab", "engine.experiments"]
    core = kinds["layers"]["layers"][2].split(" : ")
    assert {"engine.tensor", "engine.ops", "engine.autodiff", "engine.nn"} <= set(core)
    assert kinds["acyclic_siblings"]["ancestors"] == ["vizlab.export"]


def test_engine_imports_without_qt_loaded():
    code = (
        "import sys, engine, engine.ops; "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('PySide6', 'pyqtgraph', 'superqt', 'vizlab')]; print(bad); sys.exit(bool(bad))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_qt_binding_keeps_reference_counts():
    """A Qt binding that drops a reference to None on each call aborts the app within
    minutes (PySide6 6.12.0 under Python 3.11 does); refuse such an install early."""
    code = (
        "import sys\n"
        "from PySide6.QtWidgets import QApplication, QLabel\n"
        "app = QApplication(['t'])\n"
        "label = QLabel('x')\n"
        "before = sys.getrefcount(None)\n"
        "for _ in range(200): label.setText('y')\n"
        "print(sys.getrefcount(None) - before)\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    assert abs(int(result.stdout.strip().splitlines()[-1])) < 20, result.stdout


def test_engine_namespace_has_the_documented_modules():
    import engine as en

    for name in ("nn", "layers", "losses", "regularizers", "optimizers", "initializers",
                 "data", "probes"):
        assert hasattr(en, name), name
    assert callable(en.nn.relu) and callable(en.layers.Dense) and callable(en.optimizers.SGD)
