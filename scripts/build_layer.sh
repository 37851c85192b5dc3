#!/usr/bin/env bash
# Build one Lambda layer for python3.13 on arm64, whatever the build machine is.
#
#   build_layer.sh PACKAGE_DIR REQUIREMENTS ARTIFACTS_DIR
#
# Called by layers/*/Makefile (sam build, BuildMethod: makefile). Installs the pinned wheels of
# REQUIREMENTS and copies PACKAGE_DIR into ARTIFACTS_DIR/python, the folder Lambda puts on sys.path
# for a layer. Each requirements.txt lists its layer's whole dependency closure, pinned to uv.lock,
# and is installed with --no-deps: that is how boto3/botocore (and their own dependencies), which
# the Lambda runtime already provides, stay out of the layers.
#
# LAYER_ARCH (aarch64, the template's architecture, unless set) exists for the benchmark, which
# builds the same layers for the machine it runs on (bench/shipped_cold_start.py).
#
# The installer is pip when the python3 on PATH has it (PIP=... overrides the command), else uv.
# Under `uvx ... sam build` the python3 on PATH is SAM's own, which has no pip, so uv it is there.
# Either way the target interpreter and platform are explicit, not the build machine's.
set -euo pipefail

package_dir=${1:?package dir}
requirements=${2:?requirements file}
artifacts_dir=${3:?artifacts dir (ARTIFACTS_DIR)}
target="$artifacts_dir/python"
arch=${LAYER_ARCH:-aarch64}

rm -rf "$target"
mkdir -p "$target"

# manylinux2014 (glibc 2.17) wheels run on Lambda's Amazon Linux 2023 (glibc 2.34). The
# installers compile nothing: the bytecode is compiled at the end, by a 3.13 interpreter.
if [[ -n ${PIP:-} ]] || python3 -m pip --version >/dev/null 2>&1; then
  ${PIP:-python3 -m pip} install \
    --disable-pip-version-check --no-input --quiet \
    --no-deps --no-compile \
    --platform "manylinux2014_$arch" --python-version 3.13 --implementation cp --only-binary=:all: \
    --target "$target" \
    -r "$requirements"
elif command -v uv >/dev/null 2>&1; then
  uv pip install --quiet \
    --no-deps \
    --python-platform "$arch-manylinux2014" --python-version 3.13 --only-binary :all: \
    --target "$target" \
    -r "$requirements"
else
  echo "build_layer.sh: need pip (python3 -m pip, or PIP=...) or uv to install $requirements" >&2
  exit 1
fi

cp -R "$package_dir" "$target/"
# Console scripts (bin/) are not on a layer's PATH and name the build machine's interpreter.
rm -rf "$target/bin"
# Test suites some wheels ship (certifi/tests) are dead weight in a Lambda; so is uv's lock file.
find "$target" -mindepth 1 -name tests -type d -prune -exec rm -rf {} +
rm -f "$target/.lock"
# Bytecode for the runtime (hash-based, CPython 3.13; stale __pycache__ removed first): see
# compile_bytecode.sh.
bash "$(dirname "${BASH_SOURCE[0]}")/compile_bytecode.sh" "$target" /opt/python
