#!/bin/sh
# test.sh: builds diffkit with warnings as errors and runs the test suite
# (everything except tests labelled slow). Installs missing Debian packages
# first. Set DIFFKIT_SANITIZE=ON for the AddressSanitizer/UBSan build
# (in build-sanitize/).
set -eu
cd "$(dirname "$0")"
tools/install-deps.sh
build=build
extra=""
if [ "${DIFFKIT_SANITIZE:-OFF}" = ON ]; then
  build=build-sanitize
  extra="-DDIFFKIT_SANITIZE=ON"
fi
cmake -S . -B "$build" -DDIFFKIT_WERROR=ON $extra
cmake --build "$build" -j"$(nproc)"
cd "$build"
ctest -j2 --output-on-failure -LE slow
