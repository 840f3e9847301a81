// When the pipeline's commit window is due: the rule alone, so it can be
// tested without a pipeline (Pipeline::Impl::WindowDue applies it).
#pragma once

#include <chrono>
#include <cstddef>

namespace streamrec::pipeline {

// A commit window stays open for the last write at most this many commit
// intervals: bounds how much a crash re-learns.
inline constexpr int kMaxWindowStretch = 4;

struct CommitWindowState {
  std::chrono::steady_clock::duration open{};  // since the window's first change
  bool write_running = false;                  // the last commit's write is still in flight
  size_t users_touched = 0;                    // users the window changed
  size_t item_bytes = 0;                       // of the item records it changed (Learner::dirty_bytes)
};

// Due once the window has been open `interval` (pipeline.commit_interval_ms),
// or at once when its users fill half of `user_cache_capacity` (they stay
// cached until written) or its changed items' records reach `max_item_bytes`
// (pipeline.commit_max_item_mb: a window's items are copied, encoded and
// written whole, so they bound what a commit holds; reached while the last
// write runs, the pipeline waits for it). A window due while the last write still runs stays
// open until it is done, up to kMaxWindowStretch intervals: with one write in
// flight, stopping then would only wait for it, and the longer window writes
// an item changed in both once. Seen under a backlog; at 10k events/s a write
// takes well under an interval.
[[nodiscard]] inline bool CommitWindowDue(const CommitWindowState& w, std::chrono::milliseconds interval,
                                          size_t user_cache_capacity, size_t max_item_bytes) {
  if (w.users_touched * 2 >= user_cache_capacity || w.item_bytes >= max_item_bytes) return true;
  if (w.open < interval) return false;
  return !(w.write_running && w.open < kMaxWindowStretch * interval);
}

}  // namespace streamrec::pipeline
