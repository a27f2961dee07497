#include "reports/history.h"

#include <Poco/Data/RecordSet.h>
#include <Poco/Data/SQLite/Connector.h>
#include <Poco/Data/Session.h>
#include <Poco/Data/Statement.h>
#include <Poco/Exception.h>
#include <Poco/Nullable.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>

#include "experiments/files.h"
#include "experiments/journal.h"
#include "reports/report_text.h"

namespace gameday {

using Poco::Data::Keywords::bind;
using Poco::Data::Keywords::now;

namespace {

constexpr int kSchemaVersion = 1;

constexpr const char* kSchema[] = {
    "CREATE TABLE IF NOT EXISTS runs ("
    " run_id TEXT PRIMARY KEY, plan TEXT NOT NULL, started TEXT NOT NULL, status TEXT NOT NULL,"
    " seed TEXT NOT NULL, plan_file TEXT NOT NULL DEFAULT '', ended TEXT NOT NULL DEFAULT '',"
    " gameday_version TEXT NOT NULL DEFAULT '')",
    "CREATE TABLE IF NOT EXISTS experiments ("
    " run_id TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL, duration REAL NOT NULL,"
    " PRIMARY KEY (run_id, name))",
    "CREATE TABLE IF NOT EXISTS metrics ("
    " run_id TEXT NOT NULL, experiment TEXT NOT NULL, verifier TEXT NOT NULL,"
    " kind TEXT NOT NULL DEFAULT '', time_to_detect REAL, time_to_recover REAL,"
    " recover_lo REAL, recover_hi REAL, downtime REAL NOT NULL, availability REAL NOT NULL,"
    " impact INTEGER NOT NULL, recovered INTEGER NOT NULL,"
    " PRIMARY KEY (run_id, experiment, verifier))",
    "CREATE INDEX IF NOT EXISTS runs_by_start ON runs (started)",
    "CREATE INDEX IF NOT EXISTS experiments_by_name ON experiments (name)",
};

void RegisterSqlite() {
  static std::once_flag once;
  std::call_once(once, [] { Poco::Data::SQLite::Connector::registerConnector(); });
}

Poco::Nullable<double> Opt(const std::optional<double>& v) {
  if (!v || !std::isfinite(*v)) return Poco::Nullable<double>();
  return Poco::Nullable<double>(*v);
}

double Finite(double v, double fallback) { return std::isfinite(v) ? v : fallback; }

// Typed reads from a RecordSet cell; NULL gives the empty value.
std::string Text(const Poco::Data::RecordSet& rs, size_t col, size_t row) {
  if (rs.isNull(col, row)) return "";
  return rs.value(col, row).convert<std::string>();
}
std::optional<double> OptReal(const Poco::Data::RecordSet& rs, size_t col, size_t row) {
  if (rs.isNull(col, row)) return std::nullopt;
  return rs.value(col, row).convert<double>();
}
double Real(const Poco::Data::RecordSet& rs, size_t col, size_t row) {
  return OptReal(rs, col, row).value_or(0);
}
bool Flag(const Poco::Data::RecordSet& rs, size_t col, size_t row) {
  if (rs.isNull(col, row)) return false;
  return rs.value(col, row).convert<int>() != 0;
}

Status DbError(const std::string& what, const Poco::Exception& e) {
  return Status::Internal("history: " + what + ": " + e.displayText());
}

HistoryRun ReadRun(const Poco::Data::RecordSet& rs, size_t row) {
  return HistoryRun{Text(rs, 0, row), Text(rs, 1, row), Text(rs, 2, row), Text(rs, 3, row),
                    Text(rs, 4, row)};
}

constexpr const char* kRunColumns = "run_id, plan, started, status, seed";

// "4.10 s", or the state when there is no time.
std::string RecoveryWords(const HistoryMetric& m) {
  if (m.time_to_recover_s) return FormatSeconds(*m.time_to_recover_s);
  if (!m.impact) return "no impact";
  return m.recovered ? "recovered (time n/a)" : "not recovered";
}

std::string DetectWords(const HistoryMetric& m) {
  if (m.time_to_detect_s) return FormatSeconds(*m.time_to_detect_s);
  return m.impact ? "impact (time n/a)" : "no impact";
}

// " (+139%)" for a relative change of a positive quantity; empty when it has no meaning.
std::string Change(double from, double to) {
  if (from <= 0 || !std::isfinite(from) || !std::isfinite(to)) return "";
  const double pct = (to - from) / from * 100;
  const long rounded = std::lround(pct);
  return std::string(" (") +
         (rounded > 0   ? "+"
          : rounded < 0 ? ""
                        : "\u00b1") +
         std::to_string(rounded) + "%)";
}

}  // namespace

std::string DefaultHistoryPath() { return DefaultStateDir() + "/history.db"; }

struct HistoryStore::Impl {
  explicit Impl(const std::string& path) : session("SQLite", path) {}
  Poco::Data::Session session;
};

HistoryStore::HistoryStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HistoryStore::~HistoryStore() = default;

Result<std::unique_ptr<HistoryStore>> HistoryStore::Open(const std::string& path) {
  RegisterSqlite();
  // SQLite opens the file by name: the folder must be one nobody else can plant a symlink in,
  // and the file (created here, private, when new) must be ours and not a symlink.
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    Status dir = EnsureTrustedDir(parent.string(), 0700);
    if (!dir.ok()) return Status(dir.code(), "history: " + dir.message());
  }
  if (Status file = EnsureOwnedFile(path, 0600); !file.ok()) {
    return Status(file.code(), "history: " + file.message());
  }
  try {
    auto impl = std::make_unique<Impl>(path);
    Poco::Data::Session& s = impl->session;
    // Several runs may finish at once (a CI runner with parallel jobs): wait for the lock
    // instead of failing.
    s << "PRAGMA busy_timeout = 10000", now;
    int version = 0;
    s << "PRAGMA user_version", Poco::Data::Keywords::into(version), now;
    if (version > kSchemaVersion) {
      return Status::FailedPrecondition(
          "history: " + path + " has schema version " + std::to_string(version) +
          ", newer than this gameday knows (" + std::to_string(kSchemaVersion) + ")");
    }
    for (const char* sql : kSchema) s << sql, now;
    if (version < kSchemaVersion)
      s << "PRAGMA user_version = " + std::to_string(kSchemaVersion), now;
    return std::unique_ptr<HistoryStore>(new HistoryStore(std::move(impl)));
  } catch (const Poco::Exception& e) {
    return DbError("cannot open " + path, e);
  }
}

Status HistoryStore::Record(const RunResult& run) {
  if (run.dry_run) return Status::Ok();
  Poco::Data::Session& s = impl_->session;
  try {
    s.begin();
    try {
      s << "DELETE FROM metrics WHERE run_id = ?", bind(run.run_id), now;
      s << "DELETE FROM experiments WHERE run_id = ?", bind(run.run_id), now;
      s << "DELETE FROM runs WHERE run_id = ?", bind(run.run_id), now;
      s << "INSERT INTO runs (run_id, plan, started, status, seed, plan_file, ended, "
           "gameday_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
          bind(run.run_id), bind(run.plan_name), bind(FormatRfc3339(run.start_wall)),
          bind(std::string(ExperimentStatusName(RunStatus(run)))), bind(std::to_string(run.seed)),
          bind(run.plan_file), bind(FormatRfc3339(run.end_wall)), bind(run.gameday_version), now;
      for (const ExperimentResult& e : run.experiments) {
        s << "INSERT OR REPLACE INTO experiments (run_id, name, status, duration) "
             "VALUES (?, ?, ?, ?)",
            bind(run.run_id), bind(e.name), bind(std::string(ExperimentStatusName(e.status))),
            bind(Finite(e.duration_s, 0)), now;
        for (const VerifierResult& v : e.verifiers) {
          const RecoveryMetrics& m = v.overall;
          Poco::Nullable<double> lo, hi;
          if (m.recover_bound_s) {
            lo = Opt(m.recover_bound_s->first);
            hi = Opt(m.recover_bound_s->second);
          }
          s << "INSERT OR REPLACE INTO metrics (run_id, experiment, verifier, kind, "
               "time_to_detect, time_to_recover, recover_lo, recover_hi, downtime, availability, "
               "impact, recovered) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
              bind(run.run_id), bind(e.name), bind(v.name), bind(v.kind),
              bind(Opt(m.time_to_detect_s)), bind(Opt(m.time_to_recover_s)), bind(lo), bind(hi),
              bind(Finite(m.downtime_s, 0)), bind(Finite(m.availability, 0)),
              bind(m.impact ? 1 : 0), bind(m.recovered ? 1 : 0), now;
        }
      }
      s.commit();
    } catch (...) {
      s.rollback();
      throw;
    }
  } catch (const Poco::Exception& e) {
    return DbError("cannot record run " + run.run_id, e);
  }
  return Status::Ok();
}

Result<std::vector<HistoryRun>> HistoryStore::Runs(const std::string& experiment, size_t limit) {
  try {
    Poco::Data::Statement st(impl_->session);
    const Poco::Int64 n = limit == 0 ? -1 : static_cast<Poco::Int64>(limit);
    if (experiment.empty()) {
      st << std::string("SELECT ") + kRunColumns +
                " FROM runs ORDER BY started DESC, rowid DESC LIMIT ?",
          bind(n);
    } else {
      st << std::string("SELECT ") + kRunColumns +
                " FROM runs WHERE run_id IN (SELECT run_id FROM experiments WHERE name = ?)"
                " ORDER BY started DESC, rowid DESC LIMIT ?",
          bind(experiment), bind(n);
    }
    st.execute();
    Poco::Data::RecordSet rs(st);
    std::vector<HistoryRun> out;
    for (size_t row = 0; row < rs.rowCount(); ++row) out.push_back(ReadRun(rs, row));
    return out;
  } catch (const Poco::Exception& e) {
    return DbError("cannot list runs", e);
  }
}

Result<HistoryRun> HistoryStore::FindRun(const std::string& run_id) {
  try {
    Poco::Data::Statement st(impl_->session);
    if (run_id == "latest") {
      st << std::string("SELECT ") + kRunColumns +
                " FROM runs ORDER BY started DESC, rowid DESC LIMIT 1";
    } else {
      st << std::string("SELECT ") + kRunColumns + " FROM runs WHERE run_id = ?", bind(run_id);
    }
    st.execute();
    Poco::Data::RecordSet rs(st);
    if (rs.rowCount() == 0) {
      return Status::NotFound(run_id == "latest" ? "history: no run recorded yet"
                                                 : "history: no run " + run_id);
    }
    return ReadRun(rs, 0);
  } catch (const Poco::Exception& e) {
    return DbError("cannot read run " + run_id, e);
  }
}

Result<HistoryRun> HistoryStore::PreviousRun(const HistoryRun& run) {
  try {
    Poco::Data::Statement st(impl_->session);
    st << std::string("SELECT ") + kRunColumns +
              " FROM runs WHERE plan = ? AND run_id != ? AND (started < ? OR (started = ? AND "
              "rowid < (SELECT rowid FROM runs WHERE run_id = ?))) "
              "ORDER BY started DESC, rowid DESC LIMIT 1",
        bind(run.plan), bind(run.run_id), bind(run.started), bind(run.started), bind(run.run_id);
    st.execute();
    Poco::Data::RecordSet rs(st);
    if (rs.rowCount() == 0) {
      return Status::NotFound("history: no run of plan '" + run.plan + "' before " + run.run_id);
    }
    return ReadRun(rs, 0);
  } catch (const Poco::Exception& e) {
    return DbError("cannot read the run before " + run.run_id, e);
  }
}

Result<std::vector<HistoryExperiment>> HistoryStore::Experiments(const std::string& run_id) {
  try {
    Poco::Data::Statement st(impl_->session);
    st << "SELECT run_id, name, status, duration FROM experiments WHERE run_id = ? "
          "ORDER BY rowid",
        bind(run_id);
    st.execute();
    Poco::Data::RecordSet rs(st);
    std::vector<HistoryExperiment> out;
    for (size_t row = 0; row < rs.rowCount(); ++row) {
      out.push_back({Text(rs, 0, row), Text(rs, 1, row), Text(rs, 2, row), Real(rs, 3, row)});
    }
    return out;
  } catch (const Poco::Exception& e) {
    return DbError("cannot read the experiments of " + run_id, e);
  }
}

Result<std::vector<HistoryMetric>> HistoryStore::Metrics(const std::string& run_id) {
  try {
    Poco::Data::Statement st(impl_->session);
    st << "SELECT run_id, experiment, verifier, kind, time_to_detect, time_to_recover, "
          "recover_lo, recover_hi, downtime, availability, impact, recovered FROM metrics "
          "WHERE run_id = ? ORDER BY rowid",
        bind(run_id);
    st.execute();
    Poco::Data::RecordSet rs(st);
    std::vector<HistoryMetric> out;
    for (size_t row = 0; row < rs.rowCount(); ++row) {
      HistoryMetric m;
      m.run_id = Text(rs, 0, row);
      m.experiment = Text(rs, 1, row);
      m.verifier = Text(rs, 2, row);
      m.kind = Text(rs, 3, row);
      m.time_to_detect_s = OptReal(rs, 4, row);
      m.time_to_recover_s = OptReal(rs, 5, row);
      std::optional<double> lo = OptReal(rs, 6, row), hi = OptReal(rs, 7, row);
      if (lo && hi) m.recover_bound_s = std::make_pair(*lo, *hi);
      m.downtime_s = Real(rs, 8, row);
      m.availability = Real(rs, 9, row);
      m.impact = Flag(rs, 10, row);
      m.recovered = Flag(rs, 11, row);
      out.push_back(std::move(m));
    }
    return out;
  } catch (const Poco::Exception& e) {
    return DbError("cannot read the metrics of " + run_id, e);
  }
}

Result<RunHistory> HistoryStore::Trends(const std::vector<std::string>& experiments, size_t limit) {
  RunHistory out;
  try {
    for (const std::string& name : std::set<std::string>(experiments.begin(), experiments.end())) {
      Poco::Data::Statement st(impl_->session);
      const Poco::Int64 n = limit == 0 ? -1 : static_cast<Poco::Int64>(limit);
      st << "SELECT r.run_id, r.started, e.status, m.verifier, m.impact, m.recovered, "
            "m.time_to_recover, m.recover_lo, m.recover_hi, m.downtime "
            "FROM metrics m JOIN experiments e ON e.run_id = m.run_id AND e.name = m.experiment "
            "JOIN runs r ON r.run_id = m.run_id "
            "WHERE m.experiment = ? AND r.run_id IN (SELECT r2.run_id FROM runs r2 JOIN "
            "experiments e2 ON e2.run_id = r2.run_id WHERE e2.name = ? "
            "ORDER BY r2.started DESC, r2.rowid DESC LIMIT ?) "
            "ORDER BY r.started, r.rowid, m.rowid",
          bind(name), bind(name), bind(n);
      st.execute();
      Poco::Data::RecordSet rs(st);
      for (size_t row = 0; row < rs.rowCount(); ++row) {
        TrendPoint p;
        p.run_id = Text(rs, 0, row);
        if (auto t = ParseRfc3339(Text(rs, 1, row))) p.started = *t;
        p.status = Text(rs, 2, row);
        p.impact = Flag(rs, 4, row);
        p.recovered = Flag(rs, 5, row);
        p.time_to_recover_s = OptReal(rs, 6, row);
        std::optional<double> lo = OptReal(rs, 7, row), hi = OptReal(rs, 8, row);
        if (lo && hi) p.recover_bound_s = std::make_pair(*lo, *hi);
        p.downtime_s = Real(rs, 9, row);
        out.recovery[name][Text(rs, 3, row)].push_back(std::move(p));
      }
    }
  } catch (const Poco::Exception& e) {
    return DbError("cannot read trends", e);
  }
  return out;
}

Status RecordRun(const RunResult& run, const std::string& db_path) {
  auto store = HistoryStore::Open(db_path);
  if (!store.ok()) return store.status();
  return (*store)->Record(run);
}

Result<RunHistory> LoadRunHistory(const std::string& db_path, const RunResult& run, size_t limit) {
  std::error_code ec;
  if (!std::filesystem::exists(db_path, ec)) return RunHistory{};
  auto store = HistoryStore::Open(db_path);
  if (!store.ok()) return store.status();
  std::vector<std::string> names;
  for (const ExperimentResult& e : run.experiments) names.push_back(e.name);
  return (*store)->Trends(names, limit);
}

Result<std::vector<std::string>> CompareRuns(HistoryStore& store, const std::string& run_id,
                                             const std::string& baseline) {
  auto current = store.FindRun(run_id);
  if (!current.ok()) return current.status();
  auto base = baseline.empty() || baseline == "previous" ? store.PreviousRun(*current)
                                                         : store.FindRun(baseline);
  if (!base.ok()) return base.status();
  auto now_metrics = store.Metrics(current->run_id);
  if (!now_metrics.ok()) return now_metrics.status();
  auto old_metrics = store.Metrics(base->run_id);
  if (!old_metrics.ok()) return old_metrics.status();
  auto now_exps = store.Experiments(current->run_id);
  if (!now_exps.ok()) return now_exps.status();
  auto old_exps = store.Experiments(base->run_id);
  if (!old_exps.ok()) return old_exps.status();

  std::vector<std::string> lines;
  lines.push_back("run " + current->run_id + " (" + current->started + ", " + current->status +
                  ") against " + base->run_id + " (" + base->started + ", " + base->status + ")");
  std::map<std::string, const HistoryExperiment*> old_by_name;
  for (const auto& e : *old_exps) old_by_name[e.name] = &e;
  for (const auto& e : *now_exps) {
    auto it = old_by_name.find(e.name);
    if (it == old_by_name.end()) {
      lines.push_back(e.name + " is new (" + e.status + ")");
    } else if (it->second->status != e.status) {
      lines.push_back(e.name + " went from " + it->second->status + " to " + e.status);
    }
  }
  std::map<std::pair<std::string, std::string>, const HistoryMetric*> old_by_key;
  for (const auto& m : *old_metrics) old_by_key[{m.experiment, m.verifier}] = &m;
  std::set<std::pair<std::string, std::string>> seen;
  for (const HistoryMetric& m : *now_metrics) {
    const std::string who = m.experiment + "/" + m.verifier;
    seen.insert({m.experiment, m.verifier});
    auto it = old_by_key.find({m.experiment, m.verifier});
    if (it == old_by_key.end()) {
      lines.push_back("recovery of " + who + " is new: " + RecoveryWords(m));
      continue;
    }
    const HistoryMetric& o = *it->second;
    if (!o.impact && !m.impact) continue;  // no impact then or now: nothing to say
    std::string line =
        "recovery of " + who + " went from " + RecoveryWords(o) + " to " + RecoveryWords(m);
    if (o.time_to_recover_s && m.time_to_recover_s) {
      line += Change(*o.time_to_recover_s, *m.time_to_recover_s);
    }
    lines.push_back(line);
    // The other numbers only when they moved, so a comparison reads as a list of changes.
    if (DetectWords(o) != DetectWords(m)) {
      std::string d =
          "detection of " + who + " went from " + DetectWords(o) + " to " + DetectWords(m);
      if (o.time_to_detect_s && m.time_to_detect_s) {
        d += Change(*o.time_to_detect_s, *m.time_to_detect_s);
      }
      lines.push_back(d);
    }
    if (FormatSeconds(o.downtime_s) != FormatSeconds(m.downtime_s)) {
      lines.push_back("downtime of " + who + " went from " + FormatSeconds(o.downtime_s) + " to " +
                      FormatSeconds(m.downtime_s) + Change(o.downtime_s, m.downtime_s));
    }
    if (FormatPercent(o.availability) != FormatPercent(m.availability)) {
      const double points = (m.availability - o.availability) * 100;
      lines.push_back("availability of " + who + " went from " + FormatPercent(o.availability) +
                      " to " + FormatPercent(m.availability) + " (" + (points >= 0 ? "+" : "") +
                      FormatFixed(points, 2) + " points)");
    }
  }
  for (const auto& m : *old_metrics) {
    if (!seen.count({m.experiment, m.verifier})) {
      lines.push_back(m.experiment + "/" + m.verifier + " is not in " + current->run_id + " (was " +
                      RecoveryWords(m) + ")");
    }
  }
  return lines;
}

}  // namespace gameday
