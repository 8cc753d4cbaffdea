#!/usr/bin/env bash
# Sets everything up on a fresh Debian 12 machine and runs the main job on built-in
# defaults: `streamrec serve --demo`, the HTTP server learning online from a generated
# catalog and event stream, with the dashboard. Extra arguments go to `streamrec serve`
# (e.g. --port 9000 --model seq:maxlen=50). Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
exec ./build/apps/streamrec serve --demo --data-dir "${STREAMREC_DATA_DIR:-streamrec-data}" "$@"
