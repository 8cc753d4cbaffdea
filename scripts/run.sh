#!/usr/bin/env bash
# Sets everything up on a fresh Debian 12 machine and runs the main job on built-in
# defaults: Streamrec's models evaluated on the generated demo stream.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
exec ./build/apps/streamrec eval "$@"
