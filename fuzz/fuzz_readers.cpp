// libFuzzer: data set files as `eval --data` / `import` read them. The first byte picks the
// format (the file name the reader detects) and the error policy; the rest is the file.
// Bad input must be an Error naming the file, line and field, never a crash.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "streamrec/core/error.h"
#include "streamrec/core/log.h"
#include "streamrec/data/reader.h"

using namespace streamrec;
namespace fs = std::filesystem;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const fs::path dir = [] {
    log::set_level(spdlog::level::off);
    const auto d = fs::temp_directory_path() / ("streamrec-fuzz-" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d;
  }();
  if (size < 1) return 0;
  static const char* names[] = {"ratings.dat", "u.data",     "ratings.csv",  "x.inter",
                                "events.csv",  "events.tsv", "events.jsonl", "items.csv"};
  for (const auto& e : fs::directory_iterator(dir)) fs::remove(e.path());
  const char* name = names[data[0] % 8];
  {
    std::ofstream out(dir / name, std::ios::binary);
    out.write(reinterpret_cast<const char*>(data + 1), static_cast<std::streamsize>(size - 1));
  }
  if (data[0] % 8 == 7) {  // an items file needs its events file
    std::ofstream out(dir / "events.csv");
    out << "user,item,timestamp\nu1,i1,5\n";
  }
  data::ReadOptions options;
  options.on_error = (data[0] & 8) ? data::OnError::kSkip : data::OnError::kFail;
  data::ImportReport report;
  try {
    data::read_dataset(dir.string(), options, report);
  } catch (const Error&) {
  }
  return 0;
}
