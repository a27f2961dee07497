#include "reports/sample_export.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <charconv>
#include <cmath>

#include "experiments/redact.h"
#include "experiments/sample_source.h"
#include "reports/report_text.h"

namespace gameday {
namespace {

// As result.json shows text: secrets redacted, UTF-8 repaired.
std::string Clean(std::string_view s) {
  std::string out = ContainsSecret(s) ? RedactSecrets(s) : std::string(s);
  return IsValidUtf8(out) ? out : SanitizeUtf8(out);
}

void AppendCsvField(std::string* out, std::string_view s) {
  if (s.find_first_of(",\"\r\n") == std::string_view::npos) {
    *out += s;
    return;
  }
  *out += '"';
  for (char c : s) {
    if (c == '"') *out += '"';
    *out += c;
  }
  *out += '"';
}

// The shortest text that reads back as the same double.
std::string Shortest(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v + 0.0);
  return ec == std::errc() ? std::string(buf, end) : std::string();
}

// Seconds and milliseconds as result.json rounds them.
double Rounded(double v, double scale) {
  return std::isfinite(v) ? std::round(v * scale) / scale + 0.0 : v;
}

class Exporter {
 public:
  Exporter(SampleExportFormat format, std::ostream& out) : format_(format), out_(out) {
    if (format_ == SampleExportFormat::kCsv) {
      buf_ = "experiment,verifier,t_send_s,t_done_s,health,latency_ms,value,detail\n";
    }
  }
  ~Exporter() { Drain(); }
  Exporter(const Exporter&) = delete;
  Exporter& operator=(const Exporter&) = delete;

  void Start(const std::string& experiment, const std::string& verifier) {
    experiment_ = Clean(experiment);
    verifier_ = Clean(verifier);
  }

  void Add(const Sample& s) {
    if (format_ == SampleExportFormat::kCsv) {
      AppendCsvField(&buf_, experiment_);
      buf_ += ',';
      AppendCsvField(&buf_, verifier_);
      buf_ += ',' + FormatFixed(Rounded(s.t_send, 1e6), 6) + ',' +
              FormatFixed(Rounded(s.t_done, 1e6), 6) + ',' + HealthName(s.health) + ',' +
              FormatFixed(Rounded(s.latency_ms, 1e3), 3) + ',';
      if (s.value && std::isfinite(*s.value)) buf_ += Shortest(*s.value);
      buf_ += ',';
      AppendCsvField(&buf_, Clean(s.detail));
      buf_ += '\n';
    } else {
      rapidjson::StringBuffer sb;
      rapidjson::Writer<rapidjson::StringBuffer> w(sb);
      auto text = [&](const char* key, const std::string& v) {
        w.Key(key);
        w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
      };
      auto number = [&](const char* key, double v) {
        w.Key(key);
        if (std::isfinite(v)) {
          const std::string text = Shortest(v);
          w.RawValue(text.data(), text.size(), rapidjson::kNumberType);
        } else {
          w.Null();
        }
      };
      w.StartObject();
      text("experiment", experiment_);
      text("verifier", verifier_);
      number("t_send_s", Rounded(s.t_send, 1e6));
      number("t_done_s", Rounded(s.t_done, 1e6));
      text("health", HealthName(s.health));
      number("latency_ms", Rounded(s.latency_ms, 1e3));
      number("value", s.value ? *s.value : std::nan(""));
      text("detail", Clean(s.detail));
      w.EndObject();
      buf_.append(sb.GetString(), sb.GetSize());
      buf_ += '\n';
    }
    if (buf_.size() >= (1u << 16)) Drain();
  }

  void Drain() {
    out_.write(buf_.data(), static_cast<std::streamsize>(buf_.size()));
    buf_.clear();
  }

 private:
  SampleExportFormat format_;
  std::ostream& out_;
  std::string buf_;
  std::string experiment_, verifier_;
};

}  // namespace

Status ExportSamples(const RunResult& run, const SampleExportFilter& filter,
                     SampleExportFormat format, std::ostream& out) {
  bool experiment_found = filter.experiment.empty(), verifier_found = filter.verifier.empty();
  for (const ExperimentResult& e : run.experiments) {
    if (e.name != filter.experiment && !filter.experiment.empty()) continue;
    experiment_found = true;
    for (const VerifierResult& v : e.verifiers) {
      if (v.name == filter.verifier) verifier_found = true;
    }
  }
  if (!experiment_found) {
    return Status::NotFound("no experiment named \"" + filter.experiment + "\" in the result");
  }
  if (!verifier_found) {
    return Status::NotFound("no verifier named \"" + filter.verifier + "\"" +
                            (filter.experiment.empty()
                                 ? std::string(" in the result")
                                 : " in experiment \"" + filter.experiment + "\""));
  }
  Exporter exporter(format, out);
  for (const ExperimentResult& e : run.experiments) {
    if (!filter.experiment.empty() && e.name != filter.experiment) continue;
    for (const VerifierResult& v : e.verifiers) {
      if (!filter.verifier.empty() && v.name != filter.verifier) continue;
      exporter.Start(e.name, v.name);
      Status s = VisitSamples(run, v, [&](const Sample& x) { exporter.Add(x); });
      if (!s.ok()) return s;
    }
  }
  return Status::Ok();
}

}  // namespace gameday
