// The master's job cache (salt's job cache): one file per job in
// <state-dir>/jobs/<jid>.job, so `warren-master --lookup JID` can show the
// returns of a recent job. A file is a msgpack map (the wire's field-table
// encoding): jid, tgt, tgt_type, fun, args, expected (ids), returns (return
// maps as the minions sent them). Written atomically (temp file, rename);
// files older than the keep time are deleted by expire().
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

#include "master.hpp"

namespace warren::remote {

class JobStore {
 public:
  // Creates <dir>/jobs if needed. Throws std::filesystem::filesystem_error.
  explicit JobStore(std::filesystem::path dir);

  // Throws std::runtime_error when the file cannot be written.
  void save(const JobOutcome& outcome);
  // nullopt when there is no such job (or it expired, or jid is malformed).
  std::optional<JobOutcome> load(const std::string& jid) const;
  // Deletes job files last written more than `keep` ago; returns how many.
  std::size_t expire(std::chrono::seconds keep);

 private:
  std::filesystem::path jobs_;
};

}  // namespace warren::remote
