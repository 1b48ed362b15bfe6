// Replay of the journal directory at startup (docs/journal.md, "Recovery").
// Brings the directory to a clean state as it goes: removes unfinished
// compaction output and segments a compacted segment supersedes, cuts a torn
// or corrupt tail off the last segment, removes a last segment whose header
// never made it to disk, and fdatasyncs what it read, so nothing decided from
// it can be undone by a power loss.
//
// Threading: runs on the caller's thread; nothing else may use the directory.
#pragma once

#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <vector>

#include "journal.hpp"
#include "journal_reclaim.hpp"

namespace warren::detail::store {

struct ReplayedMessage {
  RecoveredMessage message;
  std::uint64_t segment = 0;  // holding its PUBLISH record
  std::uint64_t offset = 0;   // that record's offset in the segment file
  std::uint32_t bytes = 0;    // that record's size
};

struct Replay {
  std::deque<ReplayedMessage> live;              // publish order
  std::map<std::uint64_t, std::uint64_t> sizes;  // segment number -> file size, kept segments
  std::uint64_t next_id = 1;                     // greater than every id ever used
  std::uint64_t last_segment = 0;                // highest number seen, removed ones included
};

// Throws std::system_error on I/O errors and std::runtime_error on a segment
// of an unsupported format version (refusing beats ignoring a newer format).
// Bodies are loaded up to `body_budget` bytes of live messages; later ones
// come back paged.
Replay replay_journal(const std::filesystem::path& dir, const JournalLog& log,
                      std::uint64_t body_budget = UINT64_MAX);

}  // namespace warren::detail::store
