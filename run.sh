#!/bin/sh
# run.sh: the main job. Installs missing Debian packages, configures and
# builds diffkit in build/, then runs experiments/quickstart.lua (output in
# runs/quickstart/). Extra arguments go to the quickstart script.
set -eu
cd "$(dirname "$0")"
tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$(nproc)"
./build/diffkit run experiments/quickstart.lua "$@"
