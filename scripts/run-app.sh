#!/usr/bin/env bash
# Install vizlab on first use, then launch the app (any arguments go to the `vizlab` command).
set -eu
source "$(dirname "$0")/setup.sh"
# `vizlab` is not on PATH: the app's messages name this script instead (for example the
# one that explains how to work without a display).
VIZLAB_COMMAND="bash $(printf '%q' "$0")"
export VIZLAB_COMMAND
exec "$VENV/bin/vizlab" "$@"
