// The message of the exception `fn` throws, or "" when it throws none: tests check that errors
// name the file and say what to do.
#pragma once

#include <exception>
#include <string>

namespace tleg::testing {

template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const std::exception& error) {
    return error.what();
  }
  return "";
}

}  // namespace tleg::testing
