#!/usr/bin/env bash
# `streamrec train`: fits a model on generated data and writes the model artifact
# (model.ckpt) and a manifest whose sizes and CRC-32s match the files; a bad spec fails
# before writing anything.
set -euo pipefail
BIN=$1
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
"$BIN" train --gen users=200,items=150,events=5000 \
  --model seq:dim=16,maxlen=20,epochs=4,eval_every=2,features=categories+tags --out "$DIR/out"
python3 - "$DIR/out" <<'PY'
import json, os, sys, zlib
d = sys.argv[1]
m = json.load(open(os.path.join(d, "manifest.json")))
assert m["format"] == "streamrec-train" and m["version"] == 2, m
assert m["model"] == "seq" and "features=categories+tags" in m["params"], m["params"]
assert m["fit"]["best_epoch"] >= 2, m["fit"]
for name, f in m["files"].items():
    data = open(os.path.join(d, name), "rb").read()
    assert len(data) == f["bytes"] and zlib.crc32(data) == f["crc32"], name
assert sorted(m["files"]) == ["model.ckpt"], m["files"]
print("manifest ok:", sorted(m["files"]))
PY
if "$BIN" train --model nosuchmodel --out "$DIR/bad" 2>/dev/null; then
  echo "a bad model spec must fail" >&2
  exit 1
fi
[ ! -e "$DIR/bad" ] || { echo "nothing may be written for a bad spec" >&2; exit 1; }
echo "train ok"
