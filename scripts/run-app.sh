#!/usr/bin/env bash
# Install vizlab on first use, then launch the app (any arguments go to the `vizlab` command).
set -eu
source "$(dirname "$0")/setup.sh"
exec "$VENV/bin/vizlab" "$@"
