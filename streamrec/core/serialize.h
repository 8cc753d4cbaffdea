// Versioned, checked persistence (STYLE.md point 8).
//
// A Streamrec file is an envelope: magic "SRF1", an 8-byte kind tag (e.g. "model\0\0\0"),
// a format version, the payload size and its CRC-32, then the payload. Files are written
// to a temporary name and renamed, so a crash never leaves a half-written file under the
// real name. Readers check everything and throw Error(kCorrupt) naming the file.
#pragma once

#include <cstdint>
#include <istream>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace streamrec {

uint32_t crc32(std::string_view data, uint32_t seed = 0);

// Little-endian binary writer over a stream. Not thread-safe.
class BinaryWriter {
 public:
  explicit BinaryWriter(std::ostream& out) : out_(out) {}
  void u8(uint8_t v);
  void u32(uint32_t v);
  void u64(uint64_t v);
  void i64(int64_t v);
  void f32(float v);
  void f64(double v);
  void str(std::string_view s);
  void f32s(std::span<const float> v);
  void u32s(std::span<const uint32_t> v);
  void bytes(const void* data, size_t n);

 private:
  std::ostream& out_;
};

// Reader matching BinaryWriter; every read is checked and a short read throws
// Error(kCorrupt) naming `what`.
class BinaryReader {
 public:
  BinaryReader(std::istream& in, std::string what) : in_(in), what_(std::move(what)) {}
  uint8_t u8();
  uint32_t u32();
  uint64_t u64();
  int64_t i64();
  float f32();
  double f64();
  std::string str();
  std::vector<float> f32s();
  std::vector<uint32_t> u32s();
  void bytes(void* data, size_t n);
  // Reads a count and rejects one larger than `max` (guards allocations on corrupt input).
  uint64_t count(uint64_t max);

 private:
  template <typename C>
  void read_elements(C& out, uint64_t n);
  std::istream& in_;
  std::string what_;
};

struct FileHeader {
  std::string kind;  // up to 8 characters
  uint32_t version = 0;
};

// Writes `payload` under `path` atomically with the envelope described above.
void write_checked_file(const std::string& path, const FileHeader& header,
                        std::string_view payload);

// Streams a checked file of any size: write the payload through writer(), then commit()
// patches size and checksum into the header and renames the temporary file into place.
// Destroying it without commit() removes the temporary file.
class CheckedFileWriter {
 public:
  CheckedFileWriter(std::string path, const FileHeader& header);
  ~CheckedFileWriter();
  CheckedFileWriter(const CheckedFileWriter&) = delete;
  CheckedFileWriter& operator=(const CheckedFileWriter&) = delete;
  BinaryWriter& writer() { return *writer_; }
  void commit();

 private:
  class CrcBuf;
  std::string path_, tmp_;
  std::unique_ptr<std::ofstream> file_;
  std::unique_ptr<CrcBuf> buf_;
  std::unique_ptr<std::ostream> stream_;
  std::unique_ptr<BinaryWriter> writer_;
  bool committed_ = false;
};

// Verifies a checked file (magic, kind, version, size, checksum) in one streaming pass and
// returns a stream positioned at the start of its payload.
std::unique_ptr<std::istream> open_checked_file(const std::string& path, std::string_view kind,
                                                uint32_t max_version,
                                                uint32_t* version_out = nullptr);

// The same envelope in memory: the bytes write_checked_file would write for `payload`, and
// the payload of such bytes after the same checks as open_checked_file (`what` names them
// in errors). For copies that never touch a disk (a model's snapshot).
std::string checked_bytes(const FileHeader& header, std::string_view payload);
std::string_view checked_payload(std::string_view bytes, std::string_view kind,
                                 uint32_t max_version, const std::string& what,
                                 uint32_t* version_out = nullptr);

// An istream over bytes owned elsewhere (no copy); they must outlive the stream.
class MemoryIStream : public std::istream {
 public:
  explicit MemoryIStream(std::string_view bytes);

 private:
  struct Buf : std::streambuf {
    Buf(const char* p, size_t n);
  };
  Buf buf_;
};

// Reads and verifies a file written by write_checked_file. Throws Error(kCorrupt) on a
// wrong magic or kind, a version above `max_version`, a size mismatch or a bad checksum.
// Returns the payload; `version_out` receives the file's version.
std::string read_checked_file(const std::string& path, std::string_view kind, uint32_t max_version,
                              uint32_t* version_out = nullptr);

}  // namespace streamrec
