// How a rank that fails tells the others, so that the job ends with one line from the failing
// rank and one from each rank it stopped, instead of Open MPI's MPI_ABORT banner or a hang.
// Every rank keeps a receive posted for a notice on a communicator used for nothing else; the
// waits of the collectives look at it while they poll, so a rank blocked in a collective that
// the failed rank will never join learns why at once, says so and ends.
#pragma once

#include <chrono>

namespace tleg::dist {

// Collective over MPI_COMM_WORLD (World's constructor): opens the notice channel of a job of
// more than one rank.
void open_failure_notices();
// Before MPI_Finalize (World's destructor): withdraws the posted receive.
void close_failure_notices();

// The failing rank, after printing its error: sends a notice to every other rank and waits up
// to `patience` for each to acknowledge (or to be failing too). True when every rank answered,
// so all of them are ending by themselves; false when some did not (busy outside a collective),
// and the job must be ended by force. False at once in a world of one, or without the channel.
bool notify_failure(std::chrono::milliseconds patience);

// For the polling loops of the collectives: when another rank has failed, prints "rank R:
// stopped: rank F failed (its error is printed by it)", acknowledges and ends this process.
void exit_if_another_rank_failed();

}  // namespace tleg::dist
