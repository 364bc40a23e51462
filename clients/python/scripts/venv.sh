#!/usr/bin/env bash
# The virtualenv the Python SDK's tests and type check run in: made once under the given folder
# (the repository's git-ignored .local/), with requirements-dev.txt from PyPI, and remade only when
# that file changes; this package is (re)installed into it, from its folder, only when its sources
# changed. Concurrent callers wait for each other (flock). Prints the venv's python.
#
#   clients/python/scripts/venv.sh .local/python-sdk/venv
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${1:?usage: venv.sh VENV_DIR}
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9

digest() { sha256sum | cut -c1-64; }
requirements=$(digest < "$here/requirements-dev.txt")
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.requirements" 2>/dev/null)" != "$requirements" ]; then
  rm -rf "$venv"
  "${WRIT_PYTHON:-python3}" -m venv "$venv" >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements-dev.txt" >&2
  echo "$requirements" > "$venv/.requirements"
fi

# The package as pip installs it (a wheel built by the backend), not the source folder: the tests
# check what a user gets, py.typed included.
package=$(cd "$here" && find pyproject.toml README.md src -type f -not -name '*.pyc' | LC_ALL=C sort | xargs sha256sum | digest)
if [ "$(cat "$venv/.package" 2>/dev/null)" != "$package" ]; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation --force-reinstall "$here" >&2
  echo "$package" > "$venv/.package"
fi
echo "$venv/bin/python"
