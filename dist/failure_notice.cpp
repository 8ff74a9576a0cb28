// The notice channel: a duplicate of MPI_COMM_WORLD on which every rank keeps one receive posted
// for "rank F failed". A failing rank sends it to all others and waits briefly for their
// acknowledgements; a rank that finds it while polling a collective acknowledges and ends.
#include "dist/failure_notice.h"

#include <mpi.h>

#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

namespace tleg::dist {
namespace {

constexpr int kNoticeTag = 1;
constexpr int kAcknowledgementTag = 2;

// Process-wide, as the failure is: abort_job and the collectives' waits have no World at hand.
MPI_Comm notices = MPI_COMM_NULL;
MPI_Request incoming = MPI_REQUEST_NULL;
int incoming_from = -1;  // the rank the posted receive got a notice from

void post_receive() {
  MPI_Irecv(&incoming_from, 1, MPI_INT, MPI_ANY_SOURCE, kNoticeTag, notices, &incoming);
}

bool channel_open() {
  int finalised = 0;
  MPI_Finalized(&finalised);
  return notices != MPI_COMM_NULL && !finalised;
}

// Waits until `request` completes or `deadline` passes; whether it completed.
bool complete_before(MPI_Request& request, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    int done = 0;
    MPI_Test(&request, &done, MPI_STATUS_IGNORE);
    if (done) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

}  // namespace

void open_failure_notices() {
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size == 1 || notices != MPI_COMM_NULL) return;
  MPI_Comm_dup(MPI_COMM_WORLD, &notices);
  MPI_Comm_set_errhandler(notices, MPI_ERRORS_RETURN);
  post_receive();
}

void close_failure_notices() {
  if (!channel_open()) return;
  MPI_Cancel(&incoming);
  MPI_Wait(&incoming, MPI_STATUS_IGNORE);
  MPI_Comm_free(&notices);
  notices = MPI_COMM_NULL;
}

bool notify_failure(std::chrono::milliseconds patience) {
  if (!channel_open()) return false;
  int rank = 0, size = 1;
  MPI_Comm_rank(notices, &rank);
  MPI_Comm_size(notices, &size);
  const auto others = static_cast<std::size_t>(size - 1);
  std::vector<MPI_Request> sends(others, MPI_REQUEST_NULL), answers(others, MPI_REQUEST_NULL);
  std::vector<int> acknowledgements(others);
  std::vector<bool> answered(static_cast<std::size_t>(size), false);
  answered[static_cast<std::size_t>(rank)] = true;
  for (int other = 0, i = 0; other < size; ++other) {
    if (other == rank) continue;
    const auto slot = static_cast<std::size_t>(i++);
    MPI_Isend(&rank, 1, MPI_INT, other, kNoticeTag, notices, &sends[slot]);
    MPI_Irecv(&acknowledgements[slot], 1, MPI_INT, other, kAcknowledgementTag, notices,
              &answers[slot]);
  }
  const auto deadline = std::chrono::steady_clock::now() + patience;
  for (;;) {
    // Sends are tested too: over TCP a message moves on only inside MPI calls.
    int sent = 0;
    MPI_Testall(static_cast<int>(others), sends.data(), &sent, MPI_STATUSES_IGNORE);
    for (int other = 0, i = 0; other < size; ++other) {
      if (other == rank) continue;
      int done = 0;
      MPI_Test(&answers[static_cast<std::size_t>(i++)], &done, MPI_STATUS_IGNORE);
      if (done) answered[static_cast<std::size_t>(other)] = true;
    }
    // A rank failing at the same time sends its own notice instead of an acknowledgement.
    for (int done = 1; done;) {
      MPI_Test(&incoming, &done, MPI_STATUS_IGNORE);
      if (!done) break;
      answered[static_cast<std::size_t>(incoming_from)] = true;
      post_receive();
    }
    bool all = true;
    for (const bool a : answered) all = all && a;
    if (all) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void exit_if_another_rank_failed() {
  if (!channel_open()) return;
  int arrived = 0;
  MPI_Test(&incoming, &arrived, MPI_STATUS_IGNORE);
  if (!arrived) return;
  int rank = 0;
  MPI_Comm_rank(notices, &rank);
  std::fflush(stdout);
  std::fprintf(stderr, "rank %d: stopped: rank %d failed (its error is printed by it)\n", rank,
               incoming_from);
  std::fflush(stderr);
  // Synchronous: complete once the failed rank has it, so it knows this rank is ending.
  MPI_Request acknowledgement = MPI_REQUEST_NULL;
  MPI_Issend(&rank, 1, MPI_INT, incoming_from, kAcknowledgementTag, notices, &acknowledgement);
  complete_before(acknowledgement, std::chrono::steady_clock::now() + std::chrono::seconds(2));
  std::_Exit(1);
}

}  // namespace tleg::dist
