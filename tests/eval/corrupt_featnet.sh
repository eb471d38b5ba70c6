#!/bin/sh
# corrupt_featnet.sh DIFFKIT SRC TMP: a shipped feature net whose bytes changed
# (one byte flipped in a copy, found through DIFFKIT_DATA_DIR) is refused with an
# error naming both checksums; nothing is trained in its place.
set -u
dk="$1"; src="$2"; tmp="$3"
rm -rf "$tmp" && mkdir -p "$tmp/data/featnet" "$tmp/cache" || exit 1
cp "$src/data/featnet/fmnist-cnn-v2.safetensors" "$tmp/data/featnet/" || exit 1
# flip one byte of a weight near the end of the file
size=$(wc -c < "$tmp/data/featnet/fmnist-cnn-v2.safetensors")
printf '\377' | dd of="$tmp/data/featnet/fmnist-cnn-v2.safetensors" bs=1 seek=$((size - 100)) conv=notrunc 2>/dev/null
export DIFFKIT_DATA_DIR="$tmp/data" DIFFKIT_CACHE="$tmp/cache"
exec "$src/tests/lua/expect.sh" nonzero "fmnist-cnn-v2.safetensors' is corrupt: its SHA-256 is [0-9a-f]{64}, expected 78ccf1a7" \
  "$dk" run "$src/tests/eval/fid_shipped.lua" "$src/tests/data/featnet/tiny_dit.safetensors" 20
