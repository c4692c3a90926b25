"""vizlab as a user installs it: the sdist and wheel hold the code, the bundled files and
the licences, and an installed wheel renders every lab from an unrelated folder.

The slow test builds both archives from a copy of the source tree (the repository gets
no build/ or dist/), installs the wheel into a new virtual environment outside the
repository and runs its `vizlab` command there. The new environment borrows this
environment's dependencies through a .pth file, so nothing is downloaded.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tomllib
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]

# Small settings so that each lab renders in a few seconds; training reads the bundled
# digits, optimizers renders glyphs from the bundled fonts, style opens a bundled image.
SMALL_SETTINGS = {
    "training": ["dataset=digits"],
    "activations": ["sweep_rates=2", "sweep_steps=10"],
    "optimizers": ["dataset=glyphs47", "train_samples=64", "test_samples=20", "rates=2"],
    "regularization": ["runs=1", "epochs=2"],
    "style": ["content_image=chelsea", "size=32"],
}


# -- fast checks of the configuration ------------------------------------------------------


def test_pyproject_lists_every_package_on_disk():
    """The package list is written out (engine._assets lives outside engine/): a new
    subpackage missing from it would be missing from the wheel."""
    on_disk = {
        ".".join(init.parent.relative_to(REPO).parts)
        for top in ("engine", "vizlab")
        for init in (REPO / top).rglob("__init__.py")
    }
    listed = set(SETUPTOOLS["packages"])
    assert listed - {"engine._assets"} == on_disk
    assert SETUPTOOLS["package-dir"] == {"engine._assets": "assets"}
    assert (REPO / "assets" / "__init__.py").is_file()


def test_package_data_globs_cover_every_bundled_file():
    assets = REPO / "assets"
    shipped = {
        path.relative_to(assets).as_posix()
        for pattern in SETUPTOOLS["package-data"]["engine._assets"]
        for path in assets.glob(pattern)
        if path.is_file()
    }
    every = {
        path.relative_to(assets).as_posix()
        for path in assets.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.name != "__init__.py"
    }
    assert shipped == every
    assert {"data/digits.csv.gz", "images/chelsea.png", "fonts/LICENSE-DejaVu.txt"} <= shipped


def test_licence_metadata_is_the_spdx_form():
    project = PYPROJECT["project"]
    assert project["license"] == "MIT"
    assert "LICENSE" in project["license-files"]
    assert (REPO / "LICENSE").read_text().startswith("MIT License")


def test_assets_are_found_through_the_package():
    from engine import _paths

    assert _paths.ASSETS.is_dir()
    assert (_paths.ASSETS / "data" / "digits.csv.gz").is_file()
    assert sorted(p.name for p in (_paths.ASSETS / "images").glob("*.png")) == [
        "astronaut.png", "chelsea.png", "coffee.png"]


# -- the built and installed distribution --------------------------------------------------


def _run(args: list[str | Path], cwd: Path, env: dict[str, str] | None = None,
         timeout: float = 300) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, (
        f"{' '.join(map(str, args))} exited {done.returncode}\n{done.stdout}\n{done.stderr}")
    return done


def _copy_source(target: Path) -> None:
    """The files a build reads, without caches, virtual environments or earlier builds."""
    def skip(folder: str, names: list[str]) -> set[str]:
        top = Path(folder) == REPO
        return {n for n in names
                if n.startswith(".") or n == "__pycache__" or n.endswith(".egg-info")
                or (top and n in {"build", "dist", "docs", "out"})}

    shutil.copytree(REPO, target, ignore=skip)


class Installed:
    """A wheel and sdist built from this tree, and a virtual environment holding the wheel."""

    def __init__(self, root: Path) -> None:
        source, dist = root / "source", root / "dist"
        _copy_source(source)
        build = _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", dist,
                      source], cwd=root)
        self.build_log = build.stdout + build.stderr
        (self.sdist,) = dist.glob("vizlab-*.tar.gz")
        (self.wheel,) = dist.glob("vizlab-*.whl")

        self.venv = root / "venv"
        _run([sys.executable, "-m", "venv", "--without-pip", self.venv], cwd=root)
        self.python = self.venv / "bin" / "python"
        self.vizlab = self.venv / "bin" / "vizlab"
        # Installed before the .pth below exists, so pip sees an environment without vizlab.
        _run([sys.executable, "-m", "pip", "--python", self.python, "install", "--no-deps",
              "--no-index", "--quiet", self.wheel], cwd=root)
        purelib = _run([self.python, "-c", "import sysconfig; "
                        "print(sysconfig.get_paths()['purelib'])"], cwd=root).stdout.strip()
        ours = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
        # Plain paths are appended to sys.path after the venv's own site-packages, and the
        # .pth files there (this project's editable install) are not run.
        Path(purelib, "borrowed-dependencies.pth").write_text("\n".join(ours) + "\n")

        self.elsewhere = root / "elsewhere"
        self.elsewhere.mkdir()
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
        self.env.update(QT_QPA_PLATFORM="offscreen", OPENBLAS_NUM_THREADS="1",
                        OMP_NUM_THREADS="1")

    def run(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        return _run(list(args), cwd=self.elsewhere, env=self.env)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    root = tmp_path_factory.mktemp("packaging")
    assert not root.resolve().is_relative_to(REPO)
    return Installed(root)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_build_is_clean_and_archives_hold_data_and_licences(installed):
    assert "SetuptoolsDeprecationWarning" not in installed.build_log
    assert "absent from the `packages`" not in installed.build_log

    with tarfile.open(installed.sdist) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    for name in ("LICENSE", "pyproject.toml", "assets/__init__.py", "assets/README.md",
                 "assets/data/digits.csv.gz", "assets/fonts/LICENSE-DejaVu.txt",
                 "assets/fonts/GPL-2.txt", "assets/images/chelsea.png",
                 "tests/conftest.py", "scripts/setup.sh", "vizlab/__main__.py"):
        assert name in names, name

    with zipfile.ZipFile(installed.wheel) as wheel:
        names = set(wheel.namelist())
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        meta = wheel.read(metadata).decode()
    from engine.data import GLYPH_FONTS

    assets = {n.removeprefix("engine/_assets/") for n in names
              if n.startswith("engine/_assets/")}
    expected = {p.relative_to(REPO / "assets").as_posix()
                for p in (REPO / "assets").rglob("*")
                if p.is_file() and "__pycache__" not in p.parts}
    assert assets == expected
    assert {f"fonts/{name}" for name, _, _ in GLYPH_FONTS} <= assets
    assert not any(n.startswith(("assets/", "tests/")) for n in names)
    assert "vizlab/__main__.py" in names
    dist_info = metadata.rsplit("/", 1)[0]
    assert f"{dist_info}/licenses/LICENSE" in names
    assert f"{dist_info}/licenses/assets/fonts/LICENSE-Liberation.txt" in names
    assert "License-Expression: MIT" in meta.splitlines()
    assert "License-File: LICENSE" in meta.splitlines()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_installed_wheel_is_what_runs(installed):
    out = installed.run(installed.python, "-c",
                        "import engine, vizlab, engine._paths as p; "
                        "print(engine.__file__); print(vizlab.__file__); print(p.ASSETS)")
    paths = [Path(line) for line in out.stdout.splitlines()]
    assert len(paths) == 3
    venv = installed.venv.resolve()
    for path in paths:
        assert path.resolve().is_relative_to(venv), path
    assert (paths[2] / "fonts" / "DejaVuSerif.ttf").is_file()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_installed_wheel_renders_every_lab_from_another_folder(installed):
    from PIL import Image

    from vizlab.labs import LAB_NAMES

    listing = installed.run(installed.vizlab, "list").stdout
    labs = re.findall(r"^(\w+): ", listing, flags=re.MULTILINE)
    assert labs == list(LAB_NAMES)
    assert installed.run(installed.python, "-m", "vizlab", "list").stdout == listing

    def screenshot(lab: str) -> tuple[str, str]:
        settings = [arg for value in SMALL_SETTINGS.get(lab, []) for arg in ("--set", value)]
        done = installed.run(installed.vizlab, "screenshot", lab, "--steps", "2",
                             *settings, "--out", f"{lab}.png")
        return lab, done.stdout + done.stderr

    # Two at a time: the labs are independent processes and the machine has two cores.
    with ThreadPoolExecutor(max_workers=2) as pool:
        outputs = dict(pool.map(screenshot, labs))
    for lab in labs:
        assert "Traceback" not in outputs[lab], outputs[lab]
        png = installed.elsewhere / f"{lab}.png"
        assert f"wrote {lab}.png" in outputs[lab]
        assert png.stat().st_size > 20_000, lab
        with Image.open(png) as image:
            assert image.width >= 1280 and image.height >= 800, (lab, image.size)
            colours = image.convert("RGB").getcolors(1 << 20)
        assert colours is not None and len(colours) > 200, lab
