// Emitter: computes the top-N list of each user touched by a micro-batch and
// publishes it to the recommendations topic (key = user id) through an
// idempotent producer. Each published list increments the user's `seq`.
//
// Value: {"user_id", "items": [{"item_id", "score"}...], "seq", "model_version",
//         "generated_at", "source": {"partition", "offset"}}
//
// Lifecycle: Start(), Publish()*, Flush() before the batch commits, Stop().
// Thread-safety: one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/state.h"
#include "common/status.h"
#include "kafka/properties.h"

namespace streamrec::emitter {

struct EmitterOptions {
  std::string topic = "recommendations";
  // Items per list, 1..1000. Default 20.
  size_t top_n = 20;
  // Leave out items the user already interacted with. Default true.
  bool exclude_interacted = true;
  // Stamped on every list, so consumers can tell models apart.
  std::string model_version = "mf-sgd-1";
  // Users scored per matrix product, 1..4096. Default 64: larger batches use
  // the cores better, smaller ones keep the score block in cache.
  size_t score_batch = 64;
  kafka::Properties producer_properties;

  [[nodiscard]] Status Validate() const;
};

struct ListRequest {
  std::string_view user_id;
  UserRecord* user = nullptr;  // its seq is incremented
  int32_t source_partition = 0;
  int64_t source_offset = 0;   // the event that triggered this refresh
};

// What the emitter needs from the model, without depending on the learner.
struct ModelView {
  ItemMatrixView items;
  std::function<void(const UserRecord&, std::span<float>)> query_vector;
  std::function<void(const UserRecord&, std::vector<std::pair<ItemId, float>>*)> boosts;
  std::function<const std::string&(ItemId)> item_external_id;
};

class Emitter {
 public:
  explicit Emitter(EmitterOptions options);
  ~Emitter();

  [[nodiscard]] Status Start();
  [[nodiscard]] Status Publish(const ModelView& model, std::span<const ListRequest> requests);
  // Waits until every published list is delivered.
  [[nodiscard]] Status Flush(int timeout_ms);
  [[nodiscard]] Status Stop();

  uint64_t lists_published() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Renders one list message (exposed for tests and offline tools).
std::string RenderList(std::string_view user_id, std::span<const std::pair<std::string_view, float>> items,
                       uint64_t seq, std::string_view model_version, int64_t generated_at_ms, int32_t partition,
                       int64_t offset);

}  // namespace streamrec::emitter
