#!/bin/sh
# expect.sh: runs a command and checks its exit status and its output.
#   expect.sh STATUS REGEX COMMAND [ARGS...]
# STATUS is the exact exit status expected ("nonzero" accepts any but 0);
# REGEX (grep -E) must match a line of stdout+stderr. Prints what it saw, so a
# failing CTest shows the whole output.
want_status="$1"; regex="$2"; shift 2
out=$("$@" 2>&1); status=$?
printf '%s\n' "$out"
printf -- '--- exit status %s (want %s), looking for: %s\n' "$status" "$want_status" "$regex"
if [ "$want_status" = nonzero ]; then
  [ "$status" -ne 0 ] || { echo "FAIL: expected a non-zero exit status"; exit 1; }
elif [ "$status" -ne "$want_status" ]; then
  echo "FAIL: exit status $status, expected $want_status"; exit 1
fi
printf '%s\n' "$out" | grep -Eq -- "$regex" || { echo "FAIL: output does not match"; exit 1; }
echo "ok"
