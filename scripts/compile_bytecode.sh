#!/usr/bin/env bash
# Compile every module of a built function or layer to CPython 3.13 bytecode, the way Lambda
# will load it.
#
#   compile_bytecode.sh DIR RUNTIME_DIR
#
# DIR is the built folder (a layer's python/, a function's code); RUNTIME_DIR is where Lambda
# mounts it (/opt/python, /var/task), recorded in the code objects so tracebacks name real paths.
#
# Lambda mounts code read-only: without .pyc, every cold start compiles every module it imports
# (docs/benchmarks.md measures it). The .pyc are *unchecked-hash*: the interpreter trusts them
# without reading the source's mtime (a zip's 2-second timestamps made timestamp .pyc useless)
# or hashing the source on each import (what checked-hash costs). That trust is safe because a
# deployed artifact never changes, and `make test-build` checks that each .pyc matches its
# source's hash. Bytecode is platform-independent: compiled here on x86-64, run on arm64, as
# long as the interpreter is 3.13 (scripts/find_python313.sh).
set -euo pipefail

dir=${1:?built dir}
runtime_dir=${2:?runtime dir (/opt/python or /var/task)}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
python=$("$here/find_python313.sh")

find "$dir" -name __pycache__ -type d -prune -exec rm -rf {} +
"$python" -m compileall -q -j 0 --invalidation-mode unchecked-hash \
  -s "$dir" -p "$runtime_dir" "$dir" >/dev/null
