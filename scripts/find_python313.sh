#!/usr/bin/env bash
# Print the path of a CPython 3.13 interpreter — Lambda's python3.13 runtime — or explain how
# to get one and fail.
#
# The project develops, tests and compiles the shipped bytecode on 3.13 (docs/decisions.md,
# issue 15). Looked for, in order: $PYTHON313; python3.13 on PATH; pyenv's versions
# ($PYENV_ROOT, else ~/.pyenv); the interpreters uv knows (.tools/bin/uv python find).
# Nothing is downloaded: this machine may reach PyPI only.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

is_313() {
  [[ -x $1 ]] && "$1" -c 'import sys; raise SystemExit(not (sys.implementation.name == "cpython" and sys.version_info[:2] == (3, 13)))' 2>/dev/null
}

if [[ -n ${PYTHON313:-} ]]; then
  if is_313 "$PYTHON313"; then
    echo "$PYTHON313"
    exit 0
  fi
  echo "find_python313.sh: PYTHON313=$PYTHON313 is not a CPython 3.13 interpreter" >&2
  exit 1
fi

candidates=()
if command -v python3.13 >/dev/null 2>&1; then
  candidates+=("$(command -v python3.13)")
fi
for root in "${PYENV_ROOT:-}" "$HOME/.pyenv"; do
  [[ -n $root ]] || continue
  for found in "$root"/versions/3.13*/bin/python3.13; do
    [[ -e $found ]] && candidates+=("$found")
  done
done
if [[ -x $here/../.tools/bin/uv ]]; then
  found=$("$here/../.tools/bin/uv" python find --no-python-downloads 3.13 2>/dev/null || true)
  [[ -n $found ]] && candidates+=("$found")
fi

for candidate in "${candidates[@]}"; do
  if is_313 "$candidate"; then
    echo "$candidate"
    exit 0
  fi
done

cat >&2 <<'EOF'
find_python313.sh: no CPython 3.13 found (Lambda's python3.13 runtime; the venv, the tests and
the shipped bytecode use it). Install one — `pyenv install 3.13`, `uv python install 3.13`, or
your distribution's python3.13 — or name it: `make PYTHON313=/path/to/python3.13 ...`.
EOF
exit 1
