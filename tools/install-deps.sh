#!/bin/sh
# install-deps.sh: installs the Debian packages diffkit needs, if missing.
# Used by run.sh and test.sh. Runs apt-get as root, or through sudo.
set -eu
PACKAGES="cmake gcc make pkg-config liblua5.4-dev libopenblas-dev libstb-dev zlib1g-dev dataset-fashion-mnist libopenmpi-dev openmpi-bin"

missing=""
for p in $PACKAGES; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1; then
  SUDO="sudo"
else
  echo "install-deps.sh: missing packages:$missing; run this as root or install sudo" >&2
  exit 1
fi
echo "install-deps.sh: installing$missing"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
