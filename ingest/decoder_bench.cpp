// Micro-benchmark: decoding and validating one events-topic message.
#include <benchmark/benchmark.h>

#include "ingest/decoder.h"

namespace {

void BM_DecodeEvent(benchmark::State& state) {
  streamrec::ingest::EventDecoder decoder;
  const std::string payload =
      R"({"user_id":"u184467","item_id":"sku-1001-blue","type":"cart","ts":1700000000000,"event_id":"e-9f2c"})";
  streamrec::Event event;
  for (auto _ : state) {
    auto rejection = decoder.Decode(payload, "u184467", -1, &event);
    benchmark::DoNotOptimize(rejection);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(payload.size()));
}
BENCHMARK(BM_DecodeEvent);

}  // namespace
