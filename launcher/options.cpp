#include "launcher/options.h"

#include <charconv>
#include <sstream>
#include <string_view>

#include "common/error.h"
#include "common/format.h"

namespace tleg {

void Options::use(const std::string& name) {
  if (declared_.find_nothrow(name, /*approx=*/false) == nullptr)
    fail("internal: the option '", name,
         "' is read but not declared; declare it in the command's add_options (launcher/)");
  read_.insert(name);
}

namespace {

// An option's value as text: a list as its items each followed by ';', a switch given without
// a value (which Boost stores as "") as "true".
std::string value_text(const po::variable_value& value, const po::option_description* declared) {
  std::ostringstream text;
  const auto& any = value.value();
  const bool is_switch = declared != nullptr && declared->semantic()->max_tokens() == 0;
  const auto* string = boost::any_cast<std::string>(&any);
  if (any.empty() || (is_switch && string != nullptr && string->empty()))
    text << "true";
  else if (const auto* s = boost::any_cast<std::string>(&any))
    text << *s;
  else if (const auto* i = boost::any_cast<std::int64_t>(&any))
    text << *i;
  else if (const auto* n = boost::any_cast<int>(&any))
    text << *n;
  else if (const auto* d = boost::any_cast<double>(&any)) {
    // the shortest text that reads back as the same double: values that differ, read differently
    char digits[32];
    const auto end = std::to_chars(digits, digits + sizeof digits, *d).ptr;
    text << std::string_view(digits, static_cast<std::size_t>(end - digits));
  } else if (const auto* b = boost::any_cast<bool>(&any))
    text << (*b ? "true" : "false");
  else if (const auto* v = boost::any_cast<std::vector<std::string>>(&any))
    for (const auto& item : *v) text << item << ";";
  else
    fail("internal: an option of a type Options cannot write as text");
  return text.str();
}

}  // namespace

std::string Options::command_line() const {
  std::vector<std::string> words;
  for (const auto& [key, value] : values_) {
    // What the command line said (the INI files' values come back through --config).
    if (value.defaulted() || !on_command_line_.contains(key)) continue;
    const po::option_description* declared = declared_.find_nothrow(key, false);
    if (const auto* list = boost::any_cast<std::vector<std::string>>(&value.value())) {
      for (const auto& item : *list) words.push_back("--" + key + " " + shell_quoted(item));
    } else if (declared != nullptr && declared->semantic()->max_tokens() == 0) {
      words.push_back("--" + key);  // a switch
    } else {
      words.push_back("--" + key + " " + shell_quoted(value_text(value, declared)));
    }
  }
  std::string text;
  for (const auto& word : words) text += (text.empty() ? "" : " ") + word;
  return text;
}

std::map<std::string, std::string> Options::all_values_except(
    const std::set<std::string>& excluded) const {
  std::map<std::string, std::string> all;
  for (const auto& option : declared_.options()) {
    const std::string& name = option->long_name();
    if (excluded.contains(name)) continue;
    const auto found = values_.find(name);
    if (found != values_.end())
      all[name] = value_text(found->second, option.get());
    else  // not given and no default: a switch is off, anything else empty
      all[name] = option->semantic()->max_tokens() == 0 ? "false" : "";
  }
  return all;
}

std::map<std::string, std::string> Options::ini_values_except(
    const std::set<std::string>& excluded) const {
  std::map<std::string, std::string> values = all_values_except(excluded);
  for (const auto& option : declared_.options())
    if (option->semantic()->max_tokens() == 0 && !values_.count(option->long_name()))
      values.erase(option->long_name());
  return values;
}

std::vector<std::string> Options::unread() const {
  std::vector<std::string> names;
  for (const auto& option : declared_.options())
    if (!read_.contains(option->long_name())) names.push_back(option->long_name());
  return names;
}

}  // namespace tleg
