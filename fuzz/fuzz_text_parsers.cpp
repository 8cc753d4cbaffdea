// libFuzzer: the small text parsers of requests: a filter predicate (filter=price<20), a
// context ("device=tv;hour=20"), a number and an integer field. Never a crash.
#include "streamrec/core/error.h"
#include "streamrec/core/text.h"
#include "streamrec/data/context.h"
#include "streamrec/serve/rerank.h"

using namespace streamrec;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view s(reinterpret_cast<const char*>(data), size);
  try {
    const auto p = serve::parse_predicate(s);
    store::ItemRecord item;
    item.attrs.numeric["price"] = 10;
    item.fields["brand"] = "acme";
    serve::matches(&item, p);
  } catch (const Error&) {
  }
  try {
    const auto c = data::parse_context(s, ";");
    data::format_context(c);
  } catch (const Error&) {
  }
  text::parse_int(s);
  text::parse_double(s);
  return 0;
}
