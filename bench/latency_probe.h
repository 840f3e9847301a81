// LatencyProbe: event-to-list latency as a shop would see it. A paced producer
// sends events at a fixed rate and learns each one's partition, offset and
// produce timestamp from its delivery report; a separate consumer reads
// `recommendations`. An event counts as shown when a list of its user arrives
// whose source offset is at or past it; its latency is that arrival time
// minus the event's produce time. (Until 2026-11-24 the consumer also read
// `events` back for their offsets: a second reader of every one-event message
// set, each fetch of which the embedded broker serves by walking the
// partition's sets from the oldest; see PartitionsFor in bench.cpp.)
//
// Thread-safety: Run() owns its clients and threads; call from one thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "common/status.h"
#include "traffic/generator.h"

namespace streamrec::bench {

struct LatencyFigures {
  double rate = 0;          // offered events/s
  double achieved_rate = 0; // events/s actually produced
  uint64_t events = 0;      // events sent
  uint64_t shown = 0;       // events whose list arrived in time to be measured
  uint64_t events_delivered = 0;  // events the broker acknowledged
  uint64_t lists_read = 0;  // lists it read
  double p50_ms = 0;
  double p99_ms = 0;
  double max_ms = 0;
};

struct LatencyProbeOptions {
  std::string bootstrap;
  std::string events_topic = "events";
  std::string recommendations_topic = "recommendations";
  double rate = 10000;  // events/s offered
  int seconds = 5;      // how long events are sent
  int drain_ms = 2000;  // how long lists are awaited after the last event
};

// Sends events drawn from `generator` and measures; `stop` aborts early.
[[nodiscard]] Status MeasureLatency(const LatencyProbeOptions& options, traffic::Generator* generator,
                                    const std::atomic<bool>& stop, LatencyFigures* out);

}  // namespace streamrec::bench
