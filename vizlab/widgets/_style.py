"""Old name of ``vizlab.widgets.theme``, kept so existing imports work: use ``theme``."""

import sys

from vizlab.widgets import theme

# The very same module object, so a change of presentation mode reads the same everywhere.
sys.modules[__name__] = theme
