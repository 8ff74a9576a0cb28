#include "train/settings_record.h"

#include <sstream>

namespace tleg {

std::string record_text(const SettingsRecord& record) {
  std::string text;
  for (const auto& [key, value] : record) text += key + "=" + value + "\n";
  return text;
}

SettingsRecord parse_record(const std::string& text, char separator) {
  SettingsRecord record;
  std::istringstream in(text);
  std::string item;
  while (std::getline(in, item, separator)) {
    const auto equals = item.find('=');
    if (equals != std::string::npos) record[item.substr(0, equals)] = item.substr(equals + 1);
  }
  return record;
}

RecordComparison compare_records(const SettingsRecord& made, const SettingsRecord& now) {
  RecordComparison comparison;
  for (const auto& [key, value] : now) {
    const auto old = made.find(key);
    if (old == made.end())
      comparison.unrecorded.push_back(key);
    else if (old->second != value)
      comparison.differences.push_back(key + "=" + old->second + " (now " + value + ")");
  }
  return comparison;
}

}  // namespace tleg
