#include "streamrec/models/lockstep.h"

#include <cstdlib>
#include <sstream>

#include "streamrec/core/error.h"
#include "streamrec/core/serialize.h"
#include "streamrec/models/data_parallel.h"
#include "streamrec/models/registry.h"

namespace streamrec::models {
namespace {

enum Call : uint8_t { kAdopt = 1, kObserve, kFlush, kAttributes, kExpire, kStop };

void write_attributes(BinaryWriter& w, const data::ItemAttributes& a) {
  w.str(a.title);
  w.u64(a.categories.size());
  for (const auto& c : a.categories) w.str(c);
  w.u64(a.tags.size());
  for (const auto& t : a.tags) w.str(t);
  w.u64(a.numeric.size());
  for (const auto& [k, v] : a.numeric) w.str(k), w.f64(v);
  w.str(a.image);
}

data::ItemAttributes read_attributes(BinaryReader& r) {
  constexpr uint64_t kMax = uint64_t{1} << 24;
  data::ItemAttributes a;
  a.title = r.str();
  for (uint64_t n = r.count(kMax); n > 0; --n) a.categories.push_back(r.str());
  for (uint64_t n = r.count(kMax); n > 0; --n) a.tags.push_back(r.str());
  for (uint64_t n = r.count(kMax); n > 0; --n) {
    std::string k = r.str();
    a.numeric[k] = r.f64();
  }
  a.image = r.str();
  return a;
}

}  // namespace

template <typename Fn>
void Lockstep::queue(uint8_t call, Fn&& write) {
  SR_CHECK(!stopped_, ErrorKind::kInternal, "lockstep: a call after stop()");
  std::ostringstream s;
  BinaryWriter w(s);
  w.u8(call);
  write(w);
  queue_ += std::move(s).str();
  ++queued_;
}

// The root's learning model: every call forwarded; the ones that change it queued first.
class Lockstep::Wrapped final : public Recommender {
 public:
  Wrapped(Lockstep& channel, std::unique_ptr<Recommender> model)
      : channel_(channel), model_(std::move(model)) {}

  std::string name() const override { return model_->name(); }
  const Params& params() const override { return model_->params(); }
  uint32_t num_items() const override { return model_->num_items(); }
  // The engine replaces its learning model rather than refit or reload it in place; so
  // does a lock step (wrap the new one).
  void fit(const TrainData&) override { in_place("refitted"); }
  void score_all(uint32_t user, std::span<float> scores) const override {
    model_->score_all(user, scores);
  }
  bool supports_online() const override { return model_->supports_online(); }
  void observe(const data::Interaction& e) override {
    channel_.queue(kObserve, [&](BinaryWriter& w) {
      w.u32(e.user), w.u32(e.item), w.f32(e.value), w.u8(static_cast<uint8_t>(e.type));
      w.i64(e.timestamp), w.u32(e.context);
    });
    model_->observe(e);
  }
  void flush() override {
    channel_.queue(kFlush, [](BinaryWriter&) {});
    model_->flush();
  }
  double online_loss() const override { return model_->online_loss(); }
  Size size() const override { return model_->size(); }
  void set_item_attributes(std::span<const uint32_t> items,
                           std::span<const data::ItemAttributes> attrs) override {
    channel_.queue(kAttributes, [&](BinaryWriter& w) {
      w.u32s(items);
      for (const auto& a : attrs) write_attributes(w, a);
    });
    model_->set_item_attributes(items, attrs);
  }
  bool predicts_ratings() const override { return model_->predicts_ratings(); }
  float predict(uint32_t user, uint32_t item) const override { return model_->predict(user, item); }
  std::span<const float> item_vectors(size_t& dim) const override {
    return model_->item_vectors(dim);
  }
  bool retrieval_query(uint32_t user, std::vector<float>& query) const override {
    return model_->retrieval_query(user, query);
  }
  std::vector<std::vector<float>> retrieval_queries(
      std::span<const uint32_t> users) const override {
    return model_->retrieval_queries(users);
  }
  std::vector<float> retrieval_items(size_t& dim) const override {
    return model_->retrieval_items(dim);
  }
  std::vector<std::pair<uint32_t, float>> attention(uint32_t user) const override {
    return model_->attention(user);
  }
  const PrivacyReport* privacy() const override { return model_->privacy(); }
  size_t expire(std::span<const uint32_t> idle_users,
                std::span<const uint32_t> idle_items) override {
    channel_.queue(kExpire, [&](BinaryWriter& w) { w.u32s(idle_users), w.u32s(idle_items); });
    return model_->expire(idle_users, idle_items);
  }
  void save(BinaryWriter& out) const override { model_->save(out); }
  void load(BinaryReader&) override { in_place("loaded"); }
  void mark_delta() override { model_->mark_delta(); }
  bool save_delta(BinaryWriter& out) const override { return model_->save_delta(out); }
  void apply_deltas(std::span<const std::string>) override { in_place("updated by deltas"); }
  bool train_on(DataParallel* world) override { return world == &channel_.world_; }

 private:
  [[noreturn]] static void in_place(const char* how) {
    SR_CHECK(false, ErrorKind::kUnsupported,
             "a model learning in lock step over MPI ranks is not {} in place (wrap a new one)",
             how);
    std::abort();  // not reached
  }
  Lockstep& channel_;
  std::unique_ptr<Recommender> model_;
};

Lockstep::Lockstep(DataParallel& world) : world_(world) {
  world_.before_online_step([this] { send(); });
}

Lockstep::~Lockstep() { world_.before_online_step({}); }

std::unique_ptr<Recommender> Lockstep::wrap(std::unique_ptr<Recommender> model,
                                            const std::string& spec) {
  SR_INPUT_CHECK(model->supports_online() && model->train_on(&world_),
                 "{} does not learn online on MPI ranks (seq does)", spec);
  SR_INPUT_CHECK(model->privacy() == nullptr,
                 "{}: a model trained with differential privacy learns online in one process, "
                 "not on MPI ranks",
                 spec);
  // The root learns with a copy loaded from the bytes the others load (what a save leaves
  // out, such as a generator's state, is then the same everywhere).
  auto copy = loaded_model(spec, adopt(*model, spec), "the model adopted");
  copy->train_on(&world_);
  return std::make_unique<Wrapped>(*this, std::move(copy));
}

std::string Lockstep::adopt(Recommender& model, const std::string& spec) {
  std::string state = saved_bytes(model);
  queue(kAdopt, [&](BinaryWriter& w) { w.str(spec), w.str(state); });
  return state;
}

void Lockstep::send() {
  std::ostringstream s;
  BinaryWriter w(s);
  w.u64(queued_);
  std::string bytes = std::move(s).str() + queue_;
  world_.from_root(bytes);
  queue_.clear();
  queued_ = 0;
}

void Lockstep::stop() {
  if (stopped_) return;
  queue(kStop, [](BinaryWriter&) {});
  stopped_ = true;
  send();
}

void Lockstep::follow_root(DataParallel& world) {
  std::unique_ptr<Recommender> model;
  for (;;) {
    std::string bytes;
    world.from_root(bytes);
    MemoryIStream stream(bytes);
    BinaryReader r(stream, "the root's calls");
    for (uint64_t n = r.u64(); n > 0; --n) {
      const uint8_t call = r.u8();
      SR_CHECK(call == kAdopt || call == kStop || model, ErrorKind::kCorrupt,
               "lockstep: call {} before a model", call);
      switch (call) {
        case kAdopt: {
          const std::string spec = r.str();
          model = loaded_model(spec, r.str(), "the root's model");
          SR_CHECK(model->train_on(&world), ErrorKind::kCorrupt,
                   "lockstep: {} does not learn on ranks", spec);
          break;
        }
        case kObserve: {
          data::Interaction e;
          e.user = r.u32(), e.item = r.u32(), e.value = r.f32();
          e.type = static_cast<data::EventType>(r.u8());
          e.timestamp = r.i64(), e.context = r.u32();
          model->observe(e);
          break;
        }
        case kFlush:
          model->flush();
          break;
        case kAttributes: {
          const auto items = r.u32s();
          std::vector<data::ItemAttributes> attrs;
          for (size_t x = 0; x < items.size(); ++x) attrs.push_back(read_attributes(r));
          model->set_item_attributes(items, attrs);
          break;
        }
        case kExpire: {
          const auto users = r.u32s(), items = r.u32s();
          model->expire(users, items);
          break;
        }
        case kStop:
          return;
        default:
          SR_CHECK(false, ErrorKind::kCorrupt, "lockstep: unknown call {}", call);
      }
    }
  }
}

}  // namespace streamrec::models
