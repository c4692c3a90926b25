#!/usr/bin/env bash
# Install vizlab and its test tools on first use, then run the whole test suite headless.
set -eu
source "$(dirname "$0")/setup.sh"
cd "$here"
export QT_QPA_PLATFORM=offscreen
# The tests' models are small: one BLAS thread is as fast, and it does not spin
# against a busy second core (a loaded 2-core machine ran the suite 2.5x slower).
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}" OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
exec "$VENV/bin/python" -m pytest -q "$@"
