#include "streamrec/core/serialize.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <istream>
#include <ostream>
#include <sstream>
#include <vector>

#include <zlib.h>

#include "streamrec/core/error.h"

namespace streamrec {
namespace {

constexpr char kMagic[4] = {'S', 'R', 'F', '1'};
constexpr size_t kKindLen = 8;
// A vector or string longer than this in a file is treated as corruption.
constexpr uint64_t kMaxElements = uint64_t{1} << 36;

}  // namespace

uint32_t crc32(std::string_view data, uint32_t seed) {
  // zlib's CRC-32 (the same polynomial and conditioning as the byte-table loop this
  // replaced, so existing files still check), several times faster: checksums were half
  // of a seq publish (bench_seq_query).
  return static_cast<uint32_t>(
      ::crc32_z(seed, reinterpret_cast<const Bytef*>(data.data()), data.size()));
}

void BinaryWriter::bytes(const void* data, size_t n) {
  out_.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
}
void BinaryWriter::u8(uint8_t v) { bytes(&v, 1); }
void BinaryWriter::u32(uint32_t v) { bytes(&v, 4); }
void BinaryWriter::u64(uint64_t v) { bytes(&v, 8); }
void BinaryWriter::i64(int64_t v) { bytes(&v, 8); }
void BinaryWriter::f32(float v) { bytes(&v, 4); }
void BinaryWriter::f64(double v) { bytes(&v, 8); }
void BinaryWriter::str(std::string_view s) {
  u64(s.size());
  bytes(s.data(), s.size());
}
void BinaryWriter::f32s(std::span<const float> v) {
  u64(v.size());
  bytes(v.data(), v.size_bytes());
}
void BinaryWriter::u32s(std::span<const uint32_t> v) {
  u64(v.size());
  bytes(v.data(), v.size_bytes());
}

void BinaryReader::bytes(void* data, size_t n) {
  in_.read(static_cast<char*>(data), static_cast<std::streamsize>(n));
  SR_CHECK(static_cast<size_t>(in_.gcount()) == n, ErrorKind::kCorrupt,
           "{}: truncated data (wanted {} bytes, got {})", what_, n, in_.gcount());
}
uint8_t BinaryReader::u8() {
  uint8_t v;
  bytes(&v, 1);
  return v;
}
uint32_t BinaryReader::u32() {
  uint32_t v;
  bytes(&v, 4);
  return v;
}
uint64_t BinaryReader::u64() {
  uint64_t v;
  bytes(&v, 8);
  return v;
}
int64_t BinaryReader::i64() {
  int64_t v;
  bytes(&v, 8);
  return v;
}
float BinaryReader::f32() {
  float v;
  bytes(&v, 4);
  return v;
}
double BinaryReader::f64() {
  double v;
  bytes(&v, 8);
  return v;
}
uint64_t BinaryReader::count(uint64_t max) {
  const uint64_t n = u64();
  SR_CHECK(n <= max, ErrorKind::kCorrupt, "{}: implausible element count {} (limit {})", what_, n,
           max);
  return n;
}
// Reads `n` elements into `out`, growing it a megabyte at a time: a damaged count costs at
// most that much memory before the data runs out (fuzz_checked_files found an 8 GB
// allocation for a short record).
template <typename C>
void BinaryReader::read_elements(C& out, uint64_t n) {
  constexpr uint64_t kChunk = (uint64_t{1} << 20) / sizeof(typename C::value_type);
  out.clear();
  while (out.size() < n) {
    const size_t at = out.size();
    out.resize(at + static_cast<size_t>(std::min(kChunk, n - at)));
    bytes(out.data() + at, (out.size() - at) * sizeof(typename C::value_type));
  }
}
std::string BinaryReader::str() {
  std::string s;
  read_elements(s, count(kMaxElements));
  return s;
}
std::vector<float> BinaryReader::f32s() {
  std::vector<float> v;
  read_elements(v, count(kMaxElements));
  return v;
}
std::vector<uint32_t> BinaryReader::u32s() {
  std::vector<uint32_t> v;
  read_elements(v, count(kMaxElements));
  return v;
}

void write_checked_file(const std::string& path, const FileHeader& header,
                        std::string_view payload) {
  CheckedFileWriter file(path, header);
  file.writer().bytes(payload.data(), payload.size());
  file.commit();
}

class CheckedFileWriter::CrcBuf : public std::streambuf {
 public:
  explicit CrcBuf(std::streambuf* sink) : sink_(sink) {}
  uint32_t crc = 0;
  uint64_t size = 0;

 protected:
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    crc = crc32(std::string_view(s, static_cast<size_t>(n)), crc);
    size += static_cast<uint64_t>(n);
    return sink_->sputn(s, n);
  }
  int_type overflow(int_type c) override {
    if (traits_type::eq_int_type(c, traits_type::eof())) return traits_type::not_eof(c);
    const char ch = traits_type::to_char_type(c);
    return xsputn(&ch, 1) == 1 ? c : traits_type::eof();
  }

 private:
  std::streambuf* sink_;
};

namespace {
// Offsets of the header fields patched at commit: magic 4, kind 8, version 4, size 8, crc 4.
constexpr std::streamoff kSizeOffset = 16;
constexpr std::streamoff kHeaderSize = 28;
}  // namespace

CheckedFileWriter::CheckedFileWriter(std::string path, const FileHeader& header)
    : path_(std::move(path)), tmp_(path_ + ".tmp") {
  SR_ASSERT(header.kind.size() <= kKindLen);
  file_ = std::make_unique<std::ofstream>(tmp_, std::ios::binary | std::ios::trunc);
  SR_CHECK(file_->good(), ErrorKind::kIo, "cannot open '{}' for writing", tmp_);
  BinaryWriter head(*file_);
  head.bytes(kMagic, sizeof(kMagic));
  char kind[kKindLen] = {};
  std::memcpy(kind, header.kind.data(), header.kind.size());
  head.bytes(kind, kKindLen);
  head.u32(header.version);
  head.u64(0);  // size, patched by commit()
  head.u32(0);  // checksum, patched by commit()
  buf_ = std::make_unique<CrcBuf>(file_->rdbuf());
  stream_ = std::make_unique<std::ostream>(buf_.get());
  writer_ = std::make_unique<BinaryWriter>(*stream_);
}

CheckedFileWriter::~CheckedFileWriter() {
  if (committed_) return;
  file_.reset();
  std::error_code ec;
  std::filesystem::remove(tmp_, ec);
}

void CheckedFileWriter::commit() {
  stream_->flush();
  file_->seekp(kSizeOffset);
  BinaryWriter head(*file_);
  head.u64(buf_->size);
  head.u32(buf_->crc);
  file_->flush();
  if (!file_->good()) {
    const int err = errno;  // the stream keeps no error code; the failed write left errno
    throw_error(err == ENOSPC ? ErrorKind::kNoSpace : ErrorKind::kIo,
                fmt::format("write to '{}' failed: {}", tmp_, std::strerror(err)));
  }
  file_.reset();
  std::error_code ec;
  std::filesystem::rename(tmp_, path_, ec);
  SR_CHECK(!ec, ErrorKind::kIo, "cannot rename '{}' to '{}': {}", tmp_, path_, ec.message());
  committed_ = true;
}

std::string checked_bytes(const FileHeader& header, std::string_view payload) {
  SR_ASSERT(header.kind.size() <= kKindLen);
  std::ostringstream head;
  BinaryWriter w(head);
  w.bytes(kMagic, sizeof(kMagic));
  char kind[kKindLen] = {};
  std::memcpy(kind, header.kind.data(), header.kind.size());
  w.bytes(kind, kKindLen);
  w.u32(header.version);
  w.u64(payload.size());
  w.u32(crc32(payload));
  // The payload appended once into a buffer of the final size (through the stream it was
  // copied again at every growth of the stream's buffer).
  std::string out = std::move(head).str();
  out.reserve(out.size() + payload.size());
  out.append(payload);
  return out;
}

namespace {
// Checks an envelope's header (read from `r`) against the expected kind, the readable
// versions and the payload size actually present; returns the version and the checksum.
std::pair<uint32_t, uint32_t> check_header(BinaryReader& r, std::string_view kind,
                                           uint32_t max_version, uint64_t payload_size,
                                           const std::string& what) {
  char magic[4];
  r.bytes(magic, 4);
  SR_CHECK(std::memcmp(magic, kMagic, 4) == 0, ErrorKind::kCorrupt,
           "'{}' is not a Streamrec file (bad magic)", what);
  char file_kind[kKindLen + 1] = {};
  r.bytes(file_kind, kKindLen);
  SR_CHECK(std::string_view(file_kind) == kind, ErrorKind::kCorrupt,
           "'{}' holds a '{}', expected a '{}'", what, file_kind, kind);
  const uint32_t version = r.u32();
  SR_CHECK(version >= 1 && version <= max_version, ErrorKind::kCorrupt,
           "'{}' has format version {}, this build reads 1..{}", what, version, max_version);
  const uint64_t size = r.u64();
  const uint32_t checksum = r.u32();
  SR_CHECK(size == payload_size, ErrorKind::kCorrupt,
           "'{}' is truncated or padded: header says {} payload bytes, file has {}", what, size,
           payload_size);
  return {version, checksum};
}
}  // namespace

std::string_view checked_payload(std::string_view bytes, std::string_view kind,
                                 uint32_t max_version, const std::string& what,
                                 uint32_t* version_out) {
  SR_CHECK(bytes.size() >= static_cast<size_t>(kHeaderSize), ErrorKind::kCorrupt,
           "'{}' is truncated: {} bytes, shorter than a header", what, bytes.size());
  MemoryIStream in(bytes.substr(0, kHeaderSize));
  BinaryReader r(in, what);
  const auto [version, checksum] =
      check_header(r, kind, max_version, bytes.size() - kHeaderSize, what);
  const auto payload = bytes.substr(kHeaderSize);
  SR_CHECK(crc32(payload) == checksum, ErrorKind::kCorrupt, "'{}' fails its checksum", what);
  if (version_out) *version_out = version;
  return payload;
}

MemoryIStream::Buf::Buf(const char* p, size_t n) {
  char* b = const_cast<char*>(p);  // a get area is only read
  setg(b, b, b + n);
}
MemoryIStream::MemoryIStream(std::string_view bytes)
    : std::istream(nullptr), buf_(bytes.data(), bytes.size()) {
  rdbuf(&buf_);
}

std::unique_ptr<std::istream> open_checked_file(const std::string& path, std::string_view kind,
                                                uint32_t max_version, uint32_t* version_out) {
  auto in = std::make_unique<std::ifstream>(path, std::ios::binary);
  SR_CHECK(in->good(), ErrorKind::kIo, "cannot open '{}'", path);
  BinaryReader r(*in, path);
  const auto file_size = std::filesystem::file_size(path);
  SR_CHECK(file_size >= static_cast<uint64_t>(kHeaderSize), ErrorKind::kCorrupt,
           "'{}' is truncated: {} bytes, shorter than a header", path, file_size);
  const auto [version, checksum] =
      check_header(r, kind, max_version, file_size - kHeaderSize, path);
  const uint64_t size = file_size - kHeaderSize;
  std::vector<char> chunk(1 << 20);
  uint32_t crc = 0;
  uint64_t left = size;
  while (left > 0) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(left, chunk.size()));
    r.bytes(chunk.data(), n);
    crc = crc32(std::string_view(chunk.data(), n), crc);
    left -= n;
  }
  SR_CHECK(crc == checksum, ErrorKind::kCorrupt, "'{}' fails its checksum", path);
  in->seekg(kHeaderSize);
  if (version_out) *version_out = version;
  return in;
}

std::string read_checked_file(const std::string& path, std::string_view kind, uint32_t max_version,
                              uint32_t* version_out) {
  auto in = open_checked_file(path, kind, max_version, version_out);
  std::string payload(std::filesystem::file_size(path) - kHeaderSize, '\0');
  BinaryReader(*in, path).bytes(payload.data(), payload.size());
  return payload;
}

}  // namespace streamrec
