#include "experiments/sample_source.h"

#include <map>
#include <set>
#include <utility>

#include "experiments/sample_store.h"

namespace gameday {
namespace {

// The store file of `run` a verifier refers to, or why it may not be read.
Result<std::string> StorePath(const RunResult& run, const SampleStoreRef& ref) {
  if (!IsSampleStoreFileName(ref.file)) {
    return Status::InvalidArgument("sample store \"" + ref.file +
                                   "\": expected a plain file name next to result.json");
  }
  return run.dir.empty() ? ref.file : run.dir + "/" + ref.file;
}

// The experiment of `run` that holds `v`, or nullptr when `v` is not one of run's verifiers.
const ExperimentResult* ExperimentOf(const RunResult& run, const VerifierResult& v) {
  for (const ExperimentResult& e : run.experiments) {
    for (const VerifierResult& x : e.verifiers) {
      if (&x == &v) return &e;
    }
  }
  return nullptr;
}

// The store's stream must be the one result.json says it is: a mixed-up stream id or a store
// of another run must not pass for this verifier's samples.
Status CheckStream(const std::string& path, const SampleStreamInfo& info,
                   const std::string& experiment, const std::string& verifier) {
  if (info.experiment == experiment && info.verifier == verifier) return Status::Ok();
  return Status::InvalidArgument(
      path + ": stream " + std::to_string(info.stream) + " holds \"" + info.experiment + "\" / \"" +
      info.verifier + "\", result.json expects \"" + experiment + "\" / \"" + verifier + "\"");
}

}  // namespace

bool IsSampleStoreFileName(std::string_view file) {
  return !file.empty() && file.find('/') == std::string_view::npos &&
         file.find("..") == std::string_view::npos && file != "." &&
         file.find('\0') == std::string_view::npos;
}

std::optional<LastError> LastErrorOf(const std::vector<Sample>& samples) {
  for (auto it = samples.rbegin(); it != samples.rend(); ++it) {
    if (it->health != Health::kHealthy) return LastError{it->t_send, it->health, it->detail};
  }
  return std::nullopt;
}

Status VisitSamples(const RunResult& run, const VerifierResult& v,
                    const std::function<void(const Sample&)>& fn) {
  if (!v.store) {
    for (const Sample& s : v.samples) fn(s);
    return Status::Ok();
  }
  Result<std::string> path = StorePath(run, *v.store);
  if (!path.ok()) return path.status();
  Result<SampleReader> reader = SampleReader::Open(*path);
  if (!reader.ok()) return reader.status();
  const ExperimentResult* e = ExperimentOf(run, v);
  Status checked;
  bool first = true;
  Status s = reader->ForEach({v.store->stream}, [&](const SampleStreamInfo& info, const Sample& x) {
    if (first && e) checked = CheckStream(*path, info, e->name, v.name);
    first = false;
    if (checked.ok()) fn(x);
  });
  return checked.ok() ? s : checked;
}

Status VisitAllSamples(const RunResult& run,
                       const std::function<void(size_t, size_t, const Sample&)>& fn) {
  // Inline samples first; then one pass per store file over the streams that live in it.
  std::map<std::string, std::map<uint32_t, std::pair<size_t, size_t>>> by_file;
  for (size_t i = 0; i < run.experiments.size(); ++i) {
    const ExperimentResult& e = run.experiments[i];
    for (size_t k = 0; k < e.verifiers.size(); ++k) {
      const VerifierResult& v = e.verifiers[k];
      if (!v.store) {
        for (const Sample& s : v.samples) fn(i, k, s);
        continue;
      }
      Result<std::string> path = StorePath(run, *v.store);
      if (!path.ok()) return path.status();
      auto [it, added] = by_file[*path].emplace(v.store->stream, std::make_pair(i, k));
      if (!added) {
        return Status::InvalidArgument(
            *path + ": stream " + std::to_string(v.store->stream) + " is named by both " +
            run.experiments[it->second.first].verifiers[it->second.second].name + " and " + v.name);
      }
    }
  }
  for (const auto& file : by_file) {
    const std::string& path = file.first;  // (a lambda may not capture structured bindings)
    const auto& streams = file.second;
    Result<SampleReader> reader = SampleReader::Open(path);
    if (!reader.ok()) return reader.status();
    std::vector<uint32_t> ids;
    for (const auto& entry : streams) ids.push_back(entry.first);
    Status checked;
    std::set<uint32_t> seen;
    Status s = reader->ForEach(ids, [&](const SampleStreamInfo& info, const Sample& x) {
      if (!checked.ok()) return;
      const auto [i, k] = streams.at(info.stream);
      if (seen.insert(info.stream).second) {
        checked =
            CheckStream(path, info, run.experiments[i].name, run.experiments[i].verifiers[k].name);
        if (!checked.ok()) return;
      }
      fn(i, k, x);
    });
    if (!checked.ok()) return checked;
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace gameday
