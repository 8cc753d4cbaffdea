// One source of truth for configuration (STYLE.md point 5).
//
// A component declares each parameter once (name, kind, default, range or choices, help);
// `Params` validates every assignment against that list, rejects unknown keys naming the
// valid ones, and renders help text from the same declarations.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace streamrec {

struct ParamSpec {
  enum class Kind { kReal, kInt, kChoice, kString };
  std::string name;
  Kind kind = Kind::kReal;
  std::string default_value;
  double min = -1e300;  // inclusive bounds for kReal / kInt
  double max = 1e300;
  std::vector<std::string> choices;  // for kChoice
  std::string help;

  static ParamSpec real(std::string name, double def, double min, double max, std::string help);
  static ParamSpec integer(std::string name, int64_t def, int64_t min, int64_t max,
                           std::string help);
  static ParamSpec choice(std::string name, std::string def, std::vector<std::string> choices,
                          std::string help);
  static ParamSpec string(std::string name, std::string def, std::string help);
};

class Params {
 public:
  Params(std::string owner, std::vector<ParamSpec> specs);

  // Throws Error(kInvalidInput) on an unknown key or a value out of range.
  void set(std::string_view key, std::string_view value);
  // Parses "k=v,k=v" (or a list of "k=v") and sets each.
  void set_from(const std::vector<std::string>& assignments);

  double real(std::string_view key) const;
  int64_t integer(std::string_view key) const;
  const std::string& str(std::string_view key) const;

  const std::string& owner() const { return owner_; }
  const std::vector<ParamSpec>& specs() const { return specs_; }
  // "name=value" for every parameter, in declaration order.
  std::string summary() const;
  // One line per parameter: name, default, range, help.
  std::string help() const;

 private:
  const ParamSpec& spec(std::string_view key) const;
  std::string owner_;
  std::vector<ParamSpec> specs_;
  std::map<std::string, std::string, std::less<>> values_;
};

}  // namespace streamrec
