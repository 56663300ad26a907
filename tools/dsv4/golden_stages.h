// Stage goldens (shared/golden/README.md "Stage goldens"): run every stage of every block on the
// reference's own inputs (and the decode step on the reference's own state) and compare each
// output with the per-stage tolerance. Also writes this engine's own stage outputs in the same
// manifest layout (--dump-stages).
#pragma once

#include <string>

#include "model/model.h"

namespace dsv4 {

struct StageCheckOptions {
  bool verbose = false;  // one line per tensor instead of a per-stage summary
};

// Returns true when every stage of every block is within tolerance (and index sets match).
// Prints the report to stdout. `stages_dir` holds manifest.json + stages.bin.
bool RunStageChecks(const Model& model, const std::string& stages_dir,
                    const StageCheckOptions& options, std::string* error);

// Runs the stage-golden sequence (prefill, untraced decodes, traced decode, MTP alongside) on this
// engine, chaining its own outputs, and writes manifest.json + stages.bin into out_dir.
bool DumpStages(const Model& model, const std::string& stages_dir, const std::string& out_dir,
                std::string* error);

}  // namespace dsv4
