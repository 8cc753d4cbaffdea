// libFuzzer: what Streamrec reads back from its own files, as a damaged disk or a hostile
// copy could leave them: the checked-file envelope (magic, kind, version, size, CRC), an
// embedding table's payload inside a valid envelope (so the fuzzer reaches the parser past
// the checksum), a catalog record, an event-log record, and the serving state a replica
// loads from its leader's snapshot (UserState, ItemStats). The first byte picks which.
// Bad bytes must be an Error (kCorrupt), never a crash or a huge allocation.
#include "streamrec/core/error.h"
#include "streamrec/core/log.h"
#include "streamrec/core/serialize.h"
#include "streamrec/embedding/table.h"
#include "streamrec/store/catalog.h"
#include "streamrec/store/event_log.h"
#include "streamrec/store/item_stats.h"
#include "streamrec/store/user_state.h"

#include <sstream>

using namespace streamrec;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = (log::set_level(spdlog::level::off), true);
  (void)quiet;
  if (size < 1) return 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    switch (data[0] % 7) {
      case 0:
        checked_payload(bytes, "embtable", 1, "fuzz");
        break;
      case 1: {
        embedding::TableConfig config;
        config.dim = 4;
        embedding::EmbeddingTable table(config);
        table.load_full_bytes(checked_bytes({"embtable", 1}, bytes), "fuzz");
        break;
      }
      case 2:
        store::Catalog::decode_item(bytes, "i");
        break;
      case 3:
        store::Catalog::decode_user(bytes, "u");
        break;
      case 4:
        store::EventLog::decode(bytes, 1);
        break;
      case 5: {
        std::istringstream in{std::string(bytes)};
        BinaryReader r(in, "fuzz");
        store::UserState().load(r);
        break;
      }
      case 6: {
        std::istringstream in{std::string(bytes)};
        BinaryReader r(in, "fuzz");
        store::ItemStats().load(r);
        break;
      }
    }
  } catch (const Error&) {
  }
  return 0;
}
