# Sourced by run-app.sh and run-tests.sh: make sure .venv exists and holds vizlab
# and its test tools, reinstalling only when pyproject.toml has changed.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="${VIZLAB_VENV:-$here/.venv}"

pick_python() {
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "vizlab needs Python 3.11 or newer; none was found on PATH." >&2
  return 1
}

if [ ! -x "$VENV/bin/python" ]; then
  python=$(pick_python) || exit 1
  echo "Creating the virtual environment in $VENV ..." >&2
  "$python" -m venv "$VENV" || { echo "Could not create $VENV (is python3-venv installed?)" >&2; exit 1; }
fi

stamp="$VENV/.vizlab-installed"
wanted=$(cat "$here/pyproject.toml" | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
  echo "Installing vizlab and its dependencies into $VENV ..." >&2
  "$VENV/bin/python" -m pip install --quiet --upgrade pip >&2 || true
  "$VENV/bin/python" -m pip install --quiet -e "$here[test]" >&2 || {
    echo "Installing dependencies failed (see above)." >&2; exit 1; }
  echo "$wanted" > "$stamp"
fi
