// A command's parsed options (command line and --config INI files), read by name into the
// command's typed settings in one place per command. Every name read is checked against the
// options the command declares, and the names read are kept, so that a test can check both ways:
// nothing is read that is not declared, nothing is declared that is not read.
#pragma once

#include <boost/program_options.hpp>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace tleg {

namespace po = boost::program_options;

class Options {
 public:
  // `on_command_line`: the names given on the command line itself (not by a --config file).
  Options(const po::variables_map& values, const po::options_description& declared,
          std::set<std::string> on_command_line = {})
      : values_(values), declared_(declared), on_command_line_(std::move(on_command_line)) {}

  // The value of a declared option with a default or marked required.
  template <typename T>
  T get(const std::string& name) {
    use(name);
    return values_[name].as<T>();
  }
  // The value of a declared option without a default, or nothing when it was not given.
  template <typename T>
  std::optional<T> find(const std::string& name) {
    use(name);
    if (!values_.count(name)) return std::nullopt;
    return values_[name].as<T>();
  }
  // Whether a declared option was given (for switches without a value).
  bool given(const std::string& name) {
    use(name);
    return values_.count(name) > 0;
  }

  // Whether a declared option was given a value, on the command line or in an INI file (not
  // left at its default).
  bool set_explicitly(const std::string& name) {
    use(name);
    const auto found = values_.find(name);
    return found != values_.end() && !found->second.defaulted();
  }

  // Whether a declared option was given on the command line itself: config files shared by
  // several commands may set options that one of them ignores, a command line may not.
  bool on_command_line(const std::string& name) {
    use(name);
    return on_command_line_.contains(name);
  }

  // The options given on the command line as shell words, "--key value ..." (each --config file
  // as its own --config), for run.json's provenance: a shell runs it again as it is.
  std::string command_line() const;
  // Every declared option but `excluded` as name = value text, defaults included; an option
  // without a default that was not given reads "" (a switch: "true" when given). Reading them
  // here does not count as reading them into settings (unread() is unchanged).
  std::map<std::string, std::string> all_values_except(const std::set<std::string>& excluded) const;
  // The same as an INI file must say them to set them again: a switch (an option without a
  // value) only when it is on, since any line naming it turns it on.
  std::map<std::string, std::string> ini_values_except(const std::set<std::string>& excluded) const;
  // The declared options not read so far.
  std::vector<std::string> unread() const;

 private:
  void use(const std::string& name);  // fails naming `name` when it is not declared

  const po::variables_map& values_;
  const po::options_description& declared_;
  std::set<std::string> on_command_line_;
  std::set<std::string> read_;
};

}  // namespace tleg
