// Numbers as people read them in progress lines, help texts, tables and reports.
#pragma once

#include <cstdint>
#include <string>

namespace tleg {

// `value` through a printf conversion for one double, e.g. format_number("%.2f", 0.5) = "0.50".
std::string format_number(const char* spec, double value);
// The shortest usual form: 0.08, 5e-04 as "0.0005", 1e-06 (printf's %g).
inline std::string shortest(double value) { return format_number("%g", value); }
// Thousands separated by commas: 5,716,042.
std::string grouped(std::int64_t n);
// `text` as one POSIX shell word: as it is when it needs no quoting, else in single quotes.
std::string shell_quoted(const std::string& text);
// A duration for progress lines: "5m12s", or "2h05m" from an hour on (negative counts as 0).
std::string format_duration(double seconds);

}  // namespace tleg
