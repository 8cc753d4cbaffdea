#!/usr/bin/env bash
# End to end: the server on a full disk. A 4 MiB tmpfs, mounted in a private mount namespace
# (so nothing outlives the test), holds the data directory; disk_full.test.mjs fills it.
# Needs root (or a user namespace) to mount; skips (exit 77) with a message otherwise.
set -euo pipefail
bin=$1
here=$(cd "$(dirname "$0")" && pwd)
mnt=$(mktemp -d /tmp/streamrec-diskfull.XXXXXX)
trap 'rm -rf "$mnt"' EXIT
if ! unshare -m --propagation private sh -c "mount -t tmpfs -o size=1m tmpfs '$mnt'" 2>/dev/null; then
  echo "skipped: cannot mount a small tmpfs here (needs root or unshare -m)"
  exit 77
fi
unshare -m --propagation private sh -c \
  "mount -t tmpfs -o size=4m tmpfs '$mnt' && exec node '$here/disk_full.test.mjs' '$bin' '$mnt'"
