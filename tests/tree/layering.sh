#!/usr/bin/env bash
# The module arrows of ARCHITECTURE.md point down only: every #include "streamrec/M/..." in
# module (or apps/) X must name a module X may include. Fails naming the file and the arrow.
set -euo pipefail
root=${1:?usage: layering.sh SOURCE_ROOT}
declare -A allowed=(
  [core]=""
  [data]="core"
  [embedding]="core"
  [store]="core data"
  [models]="core data embedding"
  [eval]="core data embedding models"
  [dist]="core data embedding models"
  [train]="core data embedding models store"
  [serve]="core data embedding models store"
  [engine]="core data embedding models store train serve"
  [api]="core engine"
  [apps]="core data models eval dist engine api"
)
bad=0
for x in "${!allowed[@]}"; do
  dir="$root/streamrec/$x"
  [[ $x == apps ]] && dir="$root/apps"
  [[ -d $dir ]] || { echo "layering: no directory $dir" >&2; exit 1; }
  while IFS=: read -r file _ line; do
    m=$(sed -n 's#.*"streamrec/\([a-z_]*\)/.*#\1#p' <<<"$line")
    [[ -z $m || $m == "$x" ]] && continue
    if [[ " ${allowed[$x]} " != *" $m "* ]]; then
      echo "layering: ${file#"$root"/} includes streamrec/$m/ ($x -> $m is not an allowed arrow)" >&2
      bad=1
    fi
  done < <(grep -rn '#include "streamrec/' "$dir" || true)
done
for m in "$root"/streamrec/*/; do
  m=$(basename "$m")
  [[ -v allowed[$m] ]] || { echo "layering: module $m has no row in layering.sh" >&2; bad=1; }
done
exit $bad
