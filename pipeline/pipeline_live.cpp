// Between batches: settings reloaded from the configuration file (the list
// rules, the experiment) and the status page's look-ups of one user's list.
#include <fmt/format.h>

#include "common/json.h"
#include "pipeline/pipeline_impl.h"

namespace streamrec::pipeline {

void Pipeline::Impl::PollRules() {
  if (!rules_source_) return;
  std::optional<LiveSettings> settings = rules_source_();
  if (!settings) return;
  if (!(settings->rules == emitter_->rules())) {
    if (Status s = emitter_->SetRules(settings->rules); !s.ok()) {
      log_->error("new rules refused, keeping the current ones: {}", s.ToString());
      return;
    }
    log_->info("list rules reloaded");
  }
  if (!(settings->experiment == ledger_.experiment())) StartExperiment(settings->experiment);
}

Status Pipeline::Impl::AnswerLookups() {
  if (lookups_ == nullptr || !lookups_->pending()) return Status::Ok();
  STREAMREC_RETURN_IF_ERROR(FinishLists());  // a preview needs the emitter idle
  for (server::UserLookups::Question& q : lookups_->Take()) {
    UserRecord user;
    bool found = false;
    STREAMREC_RETURN_IF_ERROR(cache_->Peek(q.user_id, &user, &found));
    std::string answer;
    if (!found) {
      answer = R"({"error":)";
      AppendJsonString("no user '" + q.user_id.substr(0, 64) + "' (not one event from them yet)", &answer);
      answer += '}';
    } else {
      std::string list;
      const uint64_t events = user.events;
      STREAMREC_RETURN_IF_ERROR(
          emitter_->Preview(model_, &catalog_->catalog(), &surfaces_->trending(), q.user_id, std::move(user), &list));
      answer = R"({"user_id":)";
      AppendJsonString(q.user_id, &answer);
      answer += fmt::format(R"(,"events":{},"list":{}}})", events, list);
    }
    lookups_->Answer(q.id, std::move(answer));
  }
  return Status::Ok();
}

void Pipeline::Impl::StartExperiment(const experiment::ExperimentOptions& options) {
  const std::string before = ledger_.experiment().name;
  ledger_.Reset(options);
  if (!options.enabled()) {
    if (!before.empty()) log_->info("experiment '{}' stopped: lists carry no variant", before);
    return;
  }
  std::string variants;
  for (const experiment::VariantOptions& v : options.variants) {
    variants += fmt::format("{}{} {:g} % ({})", variants.empty() ? "" : ", ", v.name, v.share * 100, v.model);
  }
  log_->info("experiment '{}'{}: {}; events attributed within {} s of a list", options.name,
             before == options.name ? " updated" : " running", variants, options.attribution_window_s);
}

}  // namespace streamrec::pipeline
