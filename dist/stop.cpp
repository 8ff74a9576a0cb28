#include "dist/stop.h"

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <optional>
#include <vector>

#include "common/error.h"
#include "common/format.h"
#include "dist/communicator.h"

namespace tleg::dist {
namespace {

constexpr int kSignals[3] = {SIGTERM, SIGUSR1, SIGINT};

std::atomic<int> received_signal{0};
std::atomic<bool> installed{false};
extern "C" void request_stop(int signal) { received_signal.store(signal); }

std::string environment(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

// Whether Slurm has requeued this job since this run started: Slurm counts a requeue
// (scontrol's Restarts) when it makes it, before it signals the job's steps, while the
// environment holds the count at the start (SLURM_RESTART_COUNT, unset before the first
// requeue). Nothing when this is no Slurm job or scontrol does not answer.
std::optional<bool> slurm_requeued(const std::string& job) {
  std::string output;
  if (FILE* pipe = popen(("scontrol show job -o " + job + " 2>/dev/null").c_str(), "r")) {
    std::array<char, 4096> buffer{};
    while (std::fgets(buffer.data(), buffer.size(), pipe) != nullptr) output += buffer.data();
    pclose(pipe);
  }
  const auto at = output.find(" Restarts=");
  if (at == std::string::npos) return std::nullopt;
  const int restarts = std::atoi(output.c_str() + at + 10);
  return restarts > std::atoi(environment("SLURM_RESTART_COUNT").c_str());
}

// This process's command line, from the kernel: the words of argv.
std::vector<std::string> own_command_line() {
  std::ifstream file("/proc/self/cmdline", std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  std::vector<std::string> words;
  std::string word;
  for (const char c : text) {
    if (c != '\0') {
      word += c;
    } else {
      words.push_back(word);
      word.clear();
    }
  }
  return words;
}

std::string advice() {
  const std::vector<std::string> words = own_command_line();
  std::string again;
  bool resume = false;
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (i > 0) again += ' ';
    again += shell_quoted(words[i]);
    resume = resume || words[i] == "--resume";
  }
  if (!resume) again += " --resume";
  const bool launched =
      !environment("OMPI_COMM_WORLD_SIZE").empty() || !environment("PMIX_RANK").empty();
  const std::string same_way =
      launched ? " (started by mpirun or srun: start it the same way, with as many ranks)" : "";

  const std::string job = environment("SLURM_JOB_ID");
  if (job.empty() || job.find_first_not_of("0123456789") != std::string::npos)
    return concat("Resume with: ", again, same_way);
  if (slurm_requeued(job).value_or(false))
    return concat("Slurm requeued job ", job,
                  ": it resumes from this checkpoint when it starts again; nothing to do");
  // slurm/submit.sh hands its jobs the command that resubmits the experiment: every stage skips
  // what is finished and resumes the rest.
  const std::string resubmit = environment("TLEG_RESUME_COMMAND");
  return concat("Job ", job, " was cancelled or reached its time limit; resume with: ",
                resubmit.empty() ? again + same_way : resubmit);
}

}  // namespace

StopRequest::StopRequest(Communicator& comm) : comm_(comm) {
  if (installed.exchange(true)) fail("internal: two StopRequests at once in one process");
  received_signal.store(0);
  struct sigaction action {};
  action.sa_handler = request_stop;
  sigemptyset(&action.sa_mask);
  for (int i = 0; i < 3; ++i) sigaction(kSignals[i], &action, &previous_[i]);
}

StopRequest::~StopRequest() {
  for (int i = 0; i < 3; ++i) sigaction(kSignals[i], &previous_[i], nullptr);
  installed.store(false);
}

bool StopRequest::agreed() {
  if (agreed_) return true;
  const bool here = received_signal.load() != 0;
  if (comm_.size() == 1) return agreed_ = here;
  // The answer of the OR started at the previous call: every rank reads the same one.
  if (in_flight_) agreed_ = in_flight_->wait();
  in_flight_.reset();
  if (!agreed_) in_flight_ = comm_.any_async(here);
  return agreed_;
}

void StopRequest::finish() {
  if (in_flight_) in_flight_->wait();
  in_flight_.reset();
}

int StopRequest::signal() const {
  const int signal = received_signal.load();
  return signal != 0 ? signal : SIGTERM;
}

std::string signal_name(int signal) {
  switch (signal) {
    case SIGTERM:
      return "SIGTERM";
    case SIGUSR1:
      return "SIGUSR1";
    case SIGINT:
      return "SIGINT";
    default:
      return concat("signal ", signal);
  }
}

std::string stop_message(const Stopped& stop) {
  const std::vector<std::string> words = own_command_line();
  return concat("tleg", words.size() > 1 ? " " + words[1] : std::string(), ": ", stop.what(), ". ",
                advice());
}

}  // namespace tleg::dist
