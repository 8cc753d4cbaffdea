#include "streamrec/data/context.h"

#include <algorithm>

#include "streamrec/core/error.h"
#include "streamrec/core/text.h"

namespace streamrec::data {

Context parse_context(std::string_view spec, std::string_view separators) {
  Context out;
  size_t start = 0;
  while (start <= spec.size()) {
    const size_t end = std::min(spec.find_first_of(separators, start), spec.size());
    const auto entry = text::trim(spec.substr(start, end - start));
    if (!entry.empty()) {
      const auto eq = entry.find('=');
      SR_INPUT_CHECK(
          eq != std::string_view::npos && eq > 0 && !text::trim(entry.substr(0, eq)).empty(),
          "context entry {} is not key=value", text::quote(entry));
      out.emplace_back(std::string(text::trim(entry.substr(0, eq))),
                       std::string(text::trim(entry.substr(eq + 1))));
    }
    start = end + 1;
  }
  return out;
}

std::string format_context(const Context& context) {
  std::string out;
  for (const auto& [k, v] : context) {
    if (!out.empty()) out += ';';
    out += k + "=" + v;
  }
  return out;
}

}  // namespace streamrec::data
