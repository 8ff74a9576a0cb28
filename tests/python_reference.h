// Runs a reference check under tests/python/ with the venv's Python (timm, torchvision, Pillow)
// and returns its exit status and output, so a failing comparison shows its numbers.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <string>

namespace tleg::testing {

struct PythonResult {
  int status = -1;
  std::string output;
};

inline PythonResult run_python_reference(const std::string& script, const std::string& arguments) {
  const std::string command = std::string(TLEG_PYTHON) + " " + TLEG_SOURCE_DIR + "/tests/python/" +
                              script + " " + arguments + " 2>&1";
  PythonResult result;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) result.output += buffer;
  const int status = pclose(pipe);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.output = command + "\n" + result.output;
  return result;
}

}  // namespace tleg::testing
