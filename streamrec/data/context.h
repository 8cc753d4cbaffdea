// Context (module data): the free key=value pairs of an event or request (hour, device,
// location, ...). One type everywhere; on disk and in the event log it is the text
// "k=v;k=v" (format_context), read back by parse_context.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace streamrec::data {

using Context = std::vector<std::pair<std::string, std::string>>;

// "k=v;k=v" (entries split at any of `separators`) -> pairs, keys and values trimmed, empty
// entries skipped. Error(kInvalidInput) naming the entry when it has no '=' or no key.
Context parse_context(std::string_view spec, std::string_view separators = ";");
// Pairs -> "k=v;k=v".
std::string format_context(const Context& context);

}  // namespace streamrec::data
