#include <catch2/catch.hpp>

#include <deque>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "kafka/partition_log.h"

using streamrec::kafka::internal::PartitionLog;

namespace {

// A partition as the mock holds it, the compactor reading it in order and its
// copies in flight (delivered in order, once: an idempotent producer).
class Simulation {
 public:
  struct Record {
    std::string key;
    std::string value;  // empty: a tombstone
    std::optional<int64_t> copy_of;
  };

  explicit Simulation(size_t age) : age_(age) {}

  // A producer's write; `want` follows the latest original of each key.
  void Write(const std::string& key, const std::string& value) {
    log_.push_back({key, value, std::nullopt});
    if (value.empty()) {
      want_.erase(key);
    } else {
      want_[key] = value;
    }
  }
  // The compactor reads what is in the log and checks ages.
  void Read() {
    for (; read_ < log_.size(); ++read_) {
      std::vector<PartitionLog::Copy> copies;
      const Record& r = log_[read_];
      compactor_.Apply(static_cast<int64_t>(read_), r.key, r.value, r.copy_of, &copies);
      Send(copies);
    }
    std::vector<PartitionLog::Copy> copies;
    compactor_.Aged(age_, &copies);
    Send(copies);
  }
  // The oldest copy in flight lands.
  bool Land() {
    if (in_flight_.empty()) return false;
    log_.push_back(in_flight_.front());
    in_flight_.pop_front();
    return true;
  }
  // Until nothing is in flight or unread (it ends when the live keys take
  // less than `age`, as the compactor's capacity check ensures).
  void Drain() {
    for (int rounds = 0; rounds < 1'000'000; ++rounds) {
      Read();
      if (!Land() && read_ == log_.size()) return;
    }
    FAIL("the copies never settle");
  }
  // Each key's last record in the log, as a reader from the beginning finds it.
  std::map<std::string, std::string> LastRecords() const {
    std::map<std::string, std::string> last;
    for (const Record& r : log_) {
      if (r.value.empty()) {
        last.erase(r.key);
      } else {
        last[r.key] = r.value;
      }
    }
    return last;
  }
  const std::map<std::string, std::string>& want() const { return want_; }
  const std::vector<Record>& log() const { return log_; }
  size_t copies_sent() const { return copies_sent_; }

 private:
  void Send(const std::vector<PartitionLog::Copy>& copies) {
    for (const PartitionLog::Copy& c : copies) in_flight_.push_back({c.key, c.value.value_or(""), c.origin});
    copies_sent_ += copies.size();
  }

  size_t age_;
  PartitionLog compactor_;
  std::vector<Record> log_;
  std::deque<Record> in_flight_;
  std::map<std::string, std::string> want_;
  size_t read_ = 0;
  size_t copies_sent_ = 0;
};

}  // namespace

TEST_CASE("a value written again byte for byte while a copy is on its way is not taken for the copy") {
  Simulation sim(/*age=*/100);
  sim.Write("u1", "list seq 1");
  sim.Write("filler", std::string(200, 'x'));
  sim.Read();  // u1 aged: its copy is on its way
  REQUIRE(sim.copies_sent() == 1);
  sim.Write("u1", "list seq 1");  // re-published unchanged (same bytes as the copy)
  sim.Write("u1", "list seq 2");
  sim.Read();
  REQUIRE(sim.Land());  // the copy of seq 1 lands after seq 2
  sim.Drain();
  CHECK(sim.LastRecords() == sim.want());
  CHECK(sim.LastRecords().at("u1") == "list seq 2");
}

TEST_CASE("a record delivered again by a fetch is not applied twice") {
  PartitionLog log;
  std::vector<PartitionLog::Copy> copies;
  log.Apply(0, "u1", "old", std::nullopt, &copies);
  log.Apply(1, "u1", "new", std::nullopt, &copies);
  log.Apply(0, "u1", "old", std::nullopt, &copies);  // again
  log.Apply(2, "u2", "other", std::nullopt, &copies);
  log.Aged(0, &copies);
  REQUIRE(copies.size() == 1);
  CHECK(copies[0].value == "new");
  CHECK(copies[0].origin == 1);
  CHECK(log.next_offset() == 3);
}

TEST_CASE("a copy landing after a tombstone is followed by the tombstone again") {
  Simulation sim(/*age=*/50);
  sim.Write("u1", "v1");
  sim.Write("filler", std::string(100, 'x'));
  sim.Read();
  REQUIRE(sim.copies_sent() == 1);
  sim.Write("u1", "");  // erased while the copy is on its way
  sim.Read();
  sim.Drain();
  CHECK(sim.LastRecords().count("u1") == 0);
  CHECK(sim.LastRecords() == sim.want());
}

// Random writers, values from a small set (so that equal bytes recur), copies
// landing at random moments: whenever nothing is in flight, the log ends
// with every key's latest original.
TEST_CASE("every key's last record is its latest original, whatever the interleaving") {
  for (uint32_t seed = 1; seed <= 200; ++seed) {
    std::mt19937 rng(seed);
    // Older than the live keys' bytes (20 keys of < 100 bytes), as the capacity check ensures.
    Simulation sim(/*age=*/std::uniform_int_distribution<size_t>(2000, 6000)(rng));
    for (int step = 0; step < 2000; ++step) {
      const int action = std::uniform_int_distribution<int>(0, 9)(rng);
      if (action < 6) {
        const std::string key = "u" + std::to_string(std::uniform_int_distribution<int>(0, 19)(rng));
        const int v = std::uniform_int_distribution<int>(0, 4)(rng);
        sim.Write(key, v == 0 ? std::string() : "value " + std::to_string(v));
      } else if (action < 8) {
        sim.Read();
      } else {
        sim.Land();
      }
    }
    sim.Drain();
    INFO("seed " << seed << ", " << sim.log().size() << " records, " << sim.copies_sent() << " copies");
    REQUIRE(sim.copies_sent() > 0);
    REQUIRE(sim.LastRecords() == sim.want());
  }
}
