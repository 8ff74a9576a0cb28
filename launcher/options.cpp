#include "launcher/options.h"

#include <sstream>

#include "common/error.h"

namespace tleg {

void Options::use(const std::string& name) {
  if (declared_.find_nothrow(name, /*approx=*/false) == nullptr)
    fail("internal: the option '", name,
         "' is read but not declared; declare it in the command's add_options (launcher/)");
  read_.insert(name);
}

std::string Options::command_line() const {
  std::ostringstream text;
  for (const auto& [key, value] : values_) {
    if (value.defaulted()) continue;
    const auto& any = value.value();
    text << "--" << key << "=";
    if (const auto* s = boost::any_cast<std::string>(&any))
      text << *s;
    else if (const auto* i = boost::any_cast<std::int64_t>(&any))
      text << *i;
    else if (const auto* d = boost::any_cast<double>(&any))
      text << *d;
    else if (const auto* b = boost::any_cast<bool>(&any))
      text << (*b ? "true" : "false");
    else if (const auto* v = boost::any_cast<std::vector<std::string>>(&any))
      for (const auto& item : *v) text << item << ";";
    text << " ";
  }
  return text.str();
}

std::vector<std::string> Options::unread() const {
  std::vector<std::string> names;
  for (const auto& option : declared_.options())
    if (!read_.contains(option->long_name())) names.push_back(option->long_name());
  return names;
}

}  // namespace tleg
