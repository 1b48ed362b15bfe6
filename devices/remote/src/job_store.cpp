#include "job_store.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>

#include "warren/errors.hpp"
#include "warren/protocol.hpp"

namespace warren::remote {

namespace fs = std::filesystem;

JobStore::JobStore(fs::path dir) : jobs_(std::move(dir) / "jobs") { fs::create_directories(jobs_); }

void JobStore::save(const JobOutcome& o) {
  FieldArray expected(o.expected.begin(), o.expected.end());
  FieldArray returns;
  for (const auto& r : o.returns) returns.emplace_back(return_table(r));
  FieldTable t{{"jid", o.job.jid},       {"tgt", o.job.target}, {"tgt_type", o.job.target_type},
               {"fun", o.job.fun},       {"args", o.job.args},  {"issued_ms", o.job.issued_ms},
               {"expected", expected}, {"returns", returns}};
  std::string bytes = protocol::encode_table(t);
  auto final_path = jobs_ / (o.job.jid + ".job");
  auto temp = jobs_ / (o.job.jid + ".job.tmp");
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) throw std::runtime_error("cannot write " + temp.string());
  }
  fs::rename(temp, final_path);
}

std::optional<JobOutcome> JobStore::load(const std::string& jid) const {
  if (!valid_jid(jid)) return std::nullopt;
  std::ifstream in(jobs_ / (jid + ".job"), std::ios::binary);
  if (!in) return std::nullopt;
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  try {
    auto t = protocol::decode_table(bytes);
    JobOutcome o;
    o.job.jid = t.at("jid").as<std::string>();
    o.job.target = t.at("tgt").as<std::string>();
    o.job.target_type = t.at("tgt_type").as<std::string>();
    o.job.fun = t.at("fun").as<std::string>();
    o.job.args = t.at("args").as<FieldArray>();
    o.job.issued_ms = t.at("issued_ms").as<std::int64_t>();
    for (const auto& id : t.at("expected").as<FieldArray>()) o.expected.push_back(id.as<std::string>());
    for (const auto& r : t.at("returns").as<FieldArray>()) o.returns.push_back(return_from_table(r.as<FieldTable>()));
    for (const auto& id : o.expected) {
      bool back = false;
      for (const auto& r : o.returns) back = back || r.id == id;
      if (!back) o.missing.push_back(id);
    }
    return o;
  } catch (const std::exception&) {  // a damaged file: as if it were not there
    return std::nullopt;
  }
}

std::size_t JobStore::expire(std::chrono::seconds keep) {
  std::size_t removed = 0;
  auto cutoff = fs::file_time_type::clock::now() - keep;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(jobs_, ec)) {
    std::error_code e;
    auto written = entry.last_write_time(e);
    if (!e && written < cutoff && fs::remove(entry.path(), e)) ++removed;
  }
  return removed;
}

}  // namespace warren::remote
