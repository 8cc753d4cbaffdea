#include "streamrec/core/config.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "streamrec/core/error.h"
#include "streamrec/core/text.h"

namespace streamrec {

ParamSpec ParamSpec::real(std::string name, double def, double min, double max, std::string help) {
  return {std::move(name), Kind::kReal, fmt::format("{}", def), min, max, {}, std::move(help)};
}
ParamSpec ParamSpec::integer(std::string name, int64_t def, int64_t min, int64_t max,
                             std::string help) {
  return {std::move(name),          Kind::kInt, fmt::format("{}", def), static_cast<double>(min),
          static_cast<double>(max), {},         std::move(help)};
}
ParamSpec ParamSpec::choice(std::string name, std::string def, std::vector<std::string> choices,
                            std::string help) {
  return {std::move(name),    Kind::kChoice,  std::move(def), 0, 0,
          std::move(choices), std::move(help)};
}
ParamSpec ParamSpec::string(std::string name, std::string def, std::string help) {
  return {std::move(name), Kind::kString, std::move(def), 0, 0, {}, std::move(help)};
}

Params::Params(std::string owner, std::vector<ParamSpec> specs)
    : owner_(std::move(owner)), specs_(std::move(specs)) {
  for (const auto& s : specs_) values_[s.name] = s.default_value;
}

const ParamSpec& Params::spec(std::string_view key) const {
  for (const auto& s : specs_)
    if (s.name == key) return s;
  std::vector<std::string> names;
  for (const auto& s : specs_) names.push_back(s.name);
  throw_error(ErrorKind::kInvalidInput,
              fmt::format("{}: unknown parameter '{}' (known: {})", owner_, key,
                          names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", "))));
}

void Params::set(std::string_view key, std::string_view value) {
  const ParamSpec& s = spec(key);
  value = text::trim(value);
  switch (s.kind) {
    case ParamSpec::Kind::kReal:
    case ParamSpec::Kind::kInt: {
      const auto v = s.kind == ParamSpec::Kind::kInt
                         ? (text::parse_int(value) ? std::optional<double>(*text::parse_int(value))
                                                   : std::nullopt)
                         : text::parse_double(value);
      SR_INPUT_CHECK(v.has_value(), "{}: parameter '{}' wants {}, got {}", owner_, key,
                     s.kind == ParamSpec::Kind::kInt ? "an integer" : "a number",
                     text::quote(value));
      SR_INPUT_CHECK(*v >= s.min && *v <= s.max, "{}: parameter '{}' = {} is outside [{}, {}]",
                     owner_, key, value, s.min, s.max);
      break;
    }
    case ParamSpec::Kind::kChoice: {
      bool ok = false;
      for (const auto& c : s.choices) ok |= (c == value);
      SR_INPUT_CHECK(ok, "{}: parameter '{}' = {} is not one of {}", owner_, key,
                     text::quote(value), fmt::join(s.choices, "|"));
      break;
    }
    case ParamSpec::Kind::kString:
      break;
  }
  values_[s.name] = std::string(value);
}

void Params::set_from(const std::vector<std::string>& assignments) {
  for (const auto& a : assignments) {
    for (auto part : text::split(a, ",")) {
      part = text::trim(part);
      if (part.empty()) continue;
      const auto eq = part.find('=');
      SR_INPUT_CHECK(eq != std::string_view::npos, "{}: expected key=value, got {}", owner_,
                     text::quote(part));
      set(text::trim(part.substr(0, eq)), part.substr(eq + 1));
    }
  }
}

double Params::real(std::string_view key) const {
  spec(key);
  return *text::parse_double(values_.find(key)->second);
}
int64_t Params::integer(std::string_view key) const {
  const ParamSpec& s = spec(key);
  SR_ASSERT(s.kind == ParamSpec::Kind::kInt);
  return *text::parse_int(values_.find(key)->second);
}
const std::string& Params::str(std::string_view key) const {
  spec(key);
  return values_.find(key)->second;
}

std::string Params::summary() const {
  std::string out;
  for (const auto& s : specs_) {
    if (!out.empty()) out += ",";
    out += s.name + "=" + values_.find(s.name)->second;
  }
  return out;
}

std::string Params::help() const {
  std::string out;
  for (const auto& s : specs_) {
    std::string range;
    if (s.kind == ParamSpec::Kind::kChoice) range = fmt::format("{}", fmt::join(s.choices, "|"));
    if (s.kind == ParamSpec::Kind::kReal || s.kind == ParamSpec::Kind::kInt)
      range = fmt::format("[{}, {}]", s.min, s.max);
    out += fmt::format("  {:<14} {:<10} {:<22} {}\n", s.name, s.default_value, range, s.help);
  }
  return out;
}

}  // namespace streamrec
