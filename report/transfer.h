// The report's transfer section: when the runs are a transfer (their initialisations trained on
// another task's store, run.json's transfer_from), a depth x method table of top-1 on the target
// task and the verdict on the paper's transfer claim. Internal to experiments/.
#pragma once

#include <optional>
#include <string>

#include "report/runs.h"

namespace tleg::report {

// The source task(s) the runs transferred from ("" when none of the runs is a transfer).
std::string transfer_source(const ReportData& data);
// "TLEG beats every other initialiser on the target task": holds when TLEG's top-1 (best epoch,
// mean over seeds) is above every other initialiser's at every depth where TLEG and at least
// one other ran; measured as TLEG minus the best other per depth. Empty when the runs are no
// transfer or no depth has TLEG and another initialiser.
std::optional<ReportVerdict> transfer_verdict(const ReportData& data);
// The section of report.md (and transfer.md): the source, the table, the verdict; "" when the
// runs are no transfer.
std::string transfer_md(const ReportData& data);

}  // namespace tleg::report
