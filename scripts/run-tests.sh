#!/usr/bin/env bash
# Install vizlab and its test tools on first use, then run the whole test suite headless.
set -eu
source "$(dirname "$0")/setup.sh"
cd "$here"
export QT_QPA_PLATFORM=offscreen
exec "$VENV/bin/python" -m pytest -q "$@"
