// `eval --variant`: configurations of the model replayed over the same log
// under the same protocol, side by side. Each variant is the base
// configuration plus its own overrides; every variant is tested on the same
// events, so each is compared with the first by the events only one of the
// two hit (McNemar's paired test): a difference the replay can tell from noise.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "config/config.h"
#include "eval/evaluation.h"

namespace streamrec::eval {

struct Variant {
  std::string name;
  std::vector<std::string> overrides;  // "section.key=value", on top of the base configuration's
};

// "NAME" or "NAME:key=value,key=value" (a value may not hold a comma: use the
// configuration file for such). InvalidArgument when malformed.
[[nodiscard]] Status ParseVariant(const std::string& spec, Variant* out);

struct VariantRun {
  Variant variant;
  EvalReport report;  // the model's figures only, with its per-event hits
};

std::string VariantsTable(const std::vector<VariantRun>& runs);
std::string VariantsJson(const std::vector<std::vector<VariantRun>>& logs);

}  // namespace streamrec::eval
