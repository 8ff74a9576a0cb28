// --run.precision: the names, and auto's choice on this machine's CPU checked against the
// kernel's own list of the processor's flags (/proc/cpuinfo), a source independent of cpuinfo.
#include <c10/core/Device.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "model/precision.h"
#include "error_message.h"

namespace tleg {
namespace {

// Whether /proc/cpuinfo's first "flags" line lists `flag` as a whole word.
bool kernel_lists_flag(const std::string& flag) {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (!line.starts_with("flags")) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    std::string word;
    while (words >> word)
      if (word == flag) return true;
    return false;
  }
  return false;
}

TEST(Precision, NamesParseAndUnknownOnesAreRefusedByName) {
  EXPECT_EQ(parse_precision("auto"), PrecisionRequest::kAuto);
  EXPECT_EQ(parse_precision("fp32"), PrecisionRequest::kFloat32);
  EXPECT_EQ(parse_precision("bf16"), PrecisionRequest::kBFloat16);
  for (const auto request :
       {PrecisionRequest::kAuto, PrecisionRequest::kFloat32, PrecisionRequest::kBFloat16})
    EXPECT_EQ(parse_precision(precision_request_name(request)), request);
  EXPECT_EQ(precision_name(Precision::kBFloat16), "bf16");
  EXPECT_EQ(precision_name(Precision::kFloat32), "fp32");
  const std::string message = testing::error_of([] { parse_precision("fp16"); });
  EXPECT_NE(message.find("'fp16'"), std::string::npos) << message;
  EXPECT_NE(message.find("auto, fp32, bf16"), std::string::npos) << message;
}

TEST(Precision, AutoPicksBf16OnlyWhereTheProcessorComputesItNatively) {
  const bool native = kernel_lists_flag("avx512_bf16") || kernel_lists_flag("amx_bf16");
  RecordProperty("cpu_native_bf16", native ? "yes" : "no");
  const Bf16Support support = bf16_support(c10::Device(c10::kCPU));
  EXPECT_EQ(support.native, native) << support.evidence;
  const PrecisionChoice choice = choose_precision(PrecisionRequest::kAuto, c10::kCPU);
  EXPECT_EQ(choice.precision, native ? Precision::kBFloat16 : Precision::kFloat32);
  EXPECT_NE(choice.reason.find("auto"), std::string::npos) << choice.reason;
  EXPECT_NE(choice.reason.find(support.evidence), std::string::npos) << choice.reason;
  EXPECT_TRUE(choice.warning.empty()) << choice.warning;
}

TEST(Precision, AnExplicitChoiceIsKeptAndBf16WithoutNativeSupportWarnsHowMuchSlower) {
  const bool native = bf16_support(c10::Device(c10::kCPU)).native;
  const PrecisionChoice fp32 = choose_precision(PrecisionRequest::kFloat32, c10::kCPU);
  EXPECT_EQ(fp32.precision, Precision::kFloat32);
  EXPECT_TRUE(fp32.warning.empty()) << fp32.warning;
  const PrecisionChoice bf16 = choose_precision(PrecisionRequest::kBFloat16, c10::kCPU);
  EXPECT_EQ(bf16.precision, Precision::kBFloat16);
  EXPECT_EQ(bf16.warning.empty(), native) << bf16.warning;
  if (!native) {
    EXPECT_NE(bf16.warning.find("x slower than fp32"), std::string::npos) << bf16.warning;
    RecordProperty("bf16_warning", bf16.warning);
  }
}

}  // namespace
}  // namespace tleg
