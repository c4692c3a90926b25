"""Where the engine finds files that ship with the project (fonts, bundled data)."""

from pathlib import Path

# The project is installed editable, so assets/ sits at the repository root,
# one level above the engine package.
ASSETS = Path(__file__).resolve().parent.parent / "assets"
