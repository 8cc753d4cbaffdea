// The one model artifact (module models): a checked file (magic, kind "srckpt", version,
// size, CRC-32; written to a temporary name and renamed) that holds a model's spec, the
// string ids of its users and items in index order, the last event-log sequence number it
// covers (0: trained offline on a data set), free metadata (JSON text) and the model's
// state. `streamrec train --out DIR` writes DIR/model.ckpt, `serve --model-dir DIR` and
// `eval --load DIR` read it, and the server's checkpoints (DATA_DIR/model.ckpt) are the
// same file. Version 1 (the server's checkpoints before train wrote artifacts) reads as
// version 2 with empty metadata.
// Thread-safety: free functions; `model` must not change while it is written.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "streamrec/models/recommender.h"

namespace streamrec::models {

struct Artifact {
  std::string spec;  // name[:params], as make_model takes it
  std::vector<std::string> users, items;
  uint64_t covered_seq = 0;
  std::string meta;
  std::unique_ptr<Recommender> model;
};

// The file name of an artifact in a directory (train's --out, serve's --data-dir).
inline constexpr const char* kArtifactFile = "model.ckpt";

// Writes `model` (of `spec`) with its ids. Error(kUnsupported) for a model that cannot
// save, kIo when the file cannot be written.
void write_artifact(const std::string& path, const std::string& spec, const Recommender& model,
                    const std::vector<std::string>& users, const std::vector<std::string>& items,
                    uint64_t covered_seq, const std::string& meta = {});
// Reads an artifact. Error(kCorrupt) naming the path for a damaged, truncated or foreign
// file, or one whose model does not match its ids; kIo when it cannot be opened.
Artifact read_artifact(const std::string& path);
// The artifact of a directory: DIR/model.ckpt. A directory of the older `train` format
// (model.bin + manifest.json) or without the file is Error(kInvalidInput) saying what to do.
Artifact read_artifact_dir(const std::string& dir);

}  // namespace streamrec::models
