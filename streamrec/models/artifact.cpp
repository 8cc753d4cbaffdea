#include "streamrec/models/artifact.h"

#include <filesystem>
#include <sstream>

#include "streamrec/core/error.h"
#include "streamrec/core/serialize.h"
#include "streamrec/models/registry.h"

namespace streamrec::models {
namespace {

constexpr const char* kKind = "srckpt";
constexpr uint32_t kVersion = 2;  // 1: no metadata
constexpr uint64_t kMaxIds = uint64_t{1} << 32;

}  // namespace

void write_artifact(const std::string& path, const std::string& spec, const Recommender& model,
                    const std::vector<std::string>& users, const std::vector<std::string>& items,
                    uint64_t covered_seq, const std::string& meta) {
  std::ostringstream state;
  {
    BinaryWriter w(state);
    model.save(w);
  }
  CheckedFileWriter file(path, {kKind, kVersion});
  auto& w = file.writer();
  w.str(spec);
  w.u64(covered_seq);
  for (const auto* ids : {&users, &items}) {
    w.u64(ids->size());
    for (const auto& id : *ids) w.str(id);
  }
  w.str(meta);
  w.str(std::move(state).str());
  file.commit();
}

Artifact read_artifact(const std::string& path) {
  uint32_t version = 0;
  auto in = open_checked_file(path, kKind, kVersion, &version);
  BinaryReader r(*in, path);
  Artifact a;
  a.spec = r.str();
  a.covered_seq = r.u64();
  for (auto* ids : {&a.users, &a.items}) {
    ids->resize(r.count(kMaxIds));
    for (auto& id : *ids) id = r.str();
  }
  if (version >= 2) a.meta = r.str();
  const std::string state = r.str();
  SR_CHECK(in->peek() == std::char_traits<char>::eof(), ErrorKind::kCorrupt,
           "'{}': trailing bytes after the model", path);
  try {
    a.model = make_model(a.spec);
  } catch (const Error& e) {
    SR_CHECK(false, ErrorKind::kCorrupt, "'{}': its model spec '{}' is not one this build has: {}",
             path, a.spec, e.what());
  }
  MemoryIStream bytes(state);
  BinaryReader model_reader(bytes, path + " (model state)");
  a.model->load(model_reader);
  SR_CHECK(a.model->num_items() <= a.items.size(), ErrorKind::kCorrupt,
           "'{}': the model scores {} items but the file has {} item ids", path,
           a.model->num_items(), a.items.size());
  return a;
}

Artifact read_artifact_dir(const std::string& dir) {
  const std::filesystem::path d(dir);
  SR_INPUT_CHECK(std::filesystem::is_directory(d), "model directory '{}' does not exist", dir);
  if (!std::filesystem::exists(d / kArtifactFile)) {
    SR_INPUT_CHECK(!std::filesystem::exists(d / "model.bin"),
                   "'{}' holds a model of the older train format (model.bin); train it again "
                   "with this version to get {}",
                   dir, kArtifactFile);
    SR_INPUT_CHECK(false, "'{}' has no {} (write one with streamrec train --out)", dir,
                   kArtifactFile);
  }
  return read_artifact((d / kArtifactFile).string());
}

}  // namespace streamrec::models
