"""vizlab: a PySide6 + pyqtgraph desktop lab for watching neural networks learn.

The app lives here; the experiments it drives live in ``engine`` (which never imports Qt).
"""

import os

# superqt talks to Qt through qtpy; pin it to the binding the app is written for, so a stray
# PyQt install can never put two Qt bindings into one process.
os.environ.setdefault("QT_API", "pyside6")
# Likewise for pyqtgraph, which otherwise takes the first binding it can import.
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

__all__: list[str] = []
