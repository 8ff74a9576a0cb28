// What a run's checkpoints record of its settings, as key = value, and the comparison a resume
// makes: the resumed run continues exactly only under the settings its checkpoint was made with.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace tleg {

using SettingsRecord = std::map<std::string, std::string>;

// As a checkpoint stores it: "key=value" lines (values hold no line break).
std::string record_text(const SettingsRecord& record);
// A record read back: "key=value" items separated by `separator` ('\n'; checkpoints of earlier
// versions recorded fewer keys, separated by spaces).
SettingsRecord parse_record(const std::string& text, char separator = '\n');

struct RecordComparison {
  std::vector<std::string> differences;  // "key=old (now new)", for keys in both records
  std::vector<std::string> unrecorded;   // keys of `now` the checkpoint did not record
};
RecordComparison compare_records(const SettingsRecord& made, const SettingsRecord& now);

}  // namespace tleg
