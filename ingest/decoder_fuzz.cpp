// libFuzzer target for the event decoder (scripts/fuzz.sh builds and runs it).
// Properties: no crash or sanitizer report on any input; an accepted event obeys
// the documented limits; and it survives a round trip through EventToJson.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ingest/decoder.h"
#include "ingest/event_file.h"

using streamrec::Event;
using streamrec::ingest::DecoderLimits;
using streamrec::ingest::EventDecoder;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static EventDecoder decoder{DecoderLimits{}};
  static EventDecoder again{DecoderLimits{}};
  const std::string_view payload(reinterpret_cast<const char*>(data), size);
  Event e;
  if (decoder.Decode(payload, {}, 1000, &e)) return 0;  // rejected: fine, it has a reason
  const DecoderLimits limits;
  if (e.user.empty() || e.item.empty() || e.user.size() > limits.max_id_bytes || e.item.size() > limits.max_id_bytes ||
      e.ts_ms < 0) {
    std::abort();  // accepted something the contract forbids
  }
  Event round;
  if (again.Decode(streamrec::ingest::EventToJson(e), e.user, -1, &round) || round.user != e.user ||
      round.item != e.item || round.type != e.type || round.ts_ms != e.ts_ms || round.event_id != e.event_id) {
    std::abort();  // what we accept we must be able to write back and read again
  }
  return 0;
}
