"""Where the engine finds files that ship with the project (fonts, bundled data, images)."""

from importlib.resources import files
from pathlib import Path

# assets/ in the repository is installed as the package engine._assets (see pyproject's
# package-dir), both by an editable install and in the wheel. Installs are unpacked
# folders, never zips, so the files are plain paths that Pillow and gzip can open.
ASSETS = Path(str(files("engine._assets")))
