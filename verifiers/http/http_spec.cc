#include "verifiers/http/http_spec.h"

#include <re2/re2.h>

#include <cctype>
#include <filesystem>
#include <fstream>

#include "verifiers/probe/http_url.h"

namespace gameday {
namespace {

// RFC 9110 token characters.
bool IsHeaderName(const std::string& name) {
  if (name.empty()) return false;
  for (unsigned char c : name) {
    if (std::isalnum(c)) continue;
    if (std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

bool IsHeaderValue(const std::string& value) {
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos;
}

// "200" or "2xx"; nullopt when it is neither.
std::optional<StatusRange> ParseStatus(const std::string& text) {
  if (text.size() != 3) return std::nullopt;
  if (text[0] < '1' || text[0] > '5') return std::nullopt;
  const int hundreds = text[0] - '0';
  if (std::tolower(static_cast<unsigned char>(text[1])) == 'x' &&
      std::tolower(static_cast<unsigned char>(text[2])) == 'x') {
    return StatusRange{hundreds * 100, hundreds * 100 + 99, std::string(1, text[0]) + "xx"};
  }
  if (!std::isdigit(static_cast<unsigned char>(text[1])) ||
      !std::isdigit(static_cast<unsigned char>(text[2]))) {
    return std::nullopt;
  }
  const int code = std::stoi(text);
  return StatusRange{code, code, text};
}

void ParseExpectStatus(SpecNode& spec, HttpProbeSpec& out) {
  SpecNode node = spec.Child("expect_status");
  if (!node.defined()) return;
  std::vector<SpecNode> items;
  if (node.IsScalar()) {
    items.push_back(node);
  } else if (node.IsSequence()) {
    items = node.Items();
    if (items.empty()) node.Error("expected at least one status code or class");
  } else {
    node.Error("expected a status code, a class such as 2xx, or a list of them");
    return;
  }
  for (SpecNode& item : items) {
    std::optional<std::string> text = item.AsString();
    if (!text) continue;
    std::optional<StatusRange> range = ParseStatus(*text);
    if (!range) {
      item.Error("expected a status code from 100 to 599 or a class 1xx..5xx; got '" + *text + "'");
      continue;
    }
    out.expect_status.push_back(*range);
  }
}

void ParseUrl(SpecNode& spec, HttpProbeSpec& out) {
  if (!spec.Has("url")) {
    spec.ErrorAt("url", "required field is missing (expected an http:// or https:// URL)");
    return;
  }
  out.url = spec.RequiredString("url");
  if (out.url.empty()) return;
  out.display_url = CheckHttpUrl(spec, out.url);
}

void ParseHeaders(SpecNode& spec, HttpProbeSpec& out) {
  SpecNode node = spec.Child("headers");
  if (!node.defined() || !node.ExpectMap()) return;
  for (const std::string& name : node.Keys()) {
    SpecNode value = node.Child(name);
    if (!IsHeaderName(name)) {
      value.Error("not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)");
      continue;
    }
    if (!value.IsScalar()) {
      value.Error("expected a string value");  // the value itself is never echoed
      continue;
    }
    const std::string text = value.yaml().Scalar();
    if (!IsHeaderValue(text)) {
      value.Error("header values cannot contain line breaks or NUL");
      continue;
    }
    out.headers[name] = text;
  }
}

void ParseTls(SpecNode& spec, HttpProbeSpec& out) {
  SpecNode tls = spec.Child("tls");
  if (!tls.defined() || !tls.ExpectMap()) return;
  out.insecure_skip_verify = tls.Bool("insecure_skip_verify", false);
  std::optional<std::string> ca_file = tls.OptString("ca_file");
  if (ca_file) {
    if (ca_file->empty()) {
      tls.ErrorAt("ca_file", "expected a non-empty path");
    } else if (out.insecure_skip_verify) {
      tls.ErrorAt("ca_file", "has no effect with insecure_skip_verify: true; remove one of them");
    } else {
      std::filesystem::path path(*ca_file);
      if (path.is_relative()) path = std::filesystem::path(spec.file()).parent_path() / path;
      if (!std::ifstream(path).good()) {
        tls.ErrorAt("ca_file", "cannot read '" + path.string() + "'");
      } else {
        out.ca_file = path.string();
      }
    }
  }
  tls.Finish();
  if (out.url.rfind("http://", 0) == 0) tls.Error("tls applies only to https:// URLs");
}

}  // namespace

bool BodyRegexMatches(const HttpProbeSpec& spec, std::string_view body) {
  if (spec.body_regex_compiled == nullptr) return true;
  return RE2::PartialMatch(re2::StringPiece(body.data(), body.size()), *spec.body_regex_compiled);
}

bool HttpProbeSpec::StatusAccepted(long code) const {
  if (expect_status.empty()) return code >= 200 && code <= 399;
  for (const StatusRange& r : expect_status) {
    if (r.Contains(code)) return true;
  }
  return false;
}

std::string HttpProbeSpec::ExpectedStatusText() const {
  if (expect_status.empty()) return "2xx or 3xx";
  std::string out;
  for (size_t i = 0; i < expect_status.size(); ++i) {
    if (i > 0) out += i + 1 == expect_status.size() ? " or " : ", ";
    out += expect_status[i].text;
  }
  return out;
}

std::optional<HttpProbeSpec> ParseHttpProbeSpec(SpecNode& spec) {
  const size_t problems_before = spec.diagnostics()->size();
  if (!spec.defined()) {
    spec.Error("required field is missing (expected a map with at least url:)");
    return std::nullopt;
  }
  if (!spec.ExpectMap()) return std::nullopt;
  HttpProbeSpec out;
  ParseUrl(spec, out);
  out.method = spec.Enum("method", {"GET", "HEAD", "POST", "PUT", "DELETE"}, "GET");
  ParseHeaders(spec, out);
  out.body = spec.OptString("body");
  if (out.body && (out.method == "GET" || out.method == "HEAD")) {
    spec.ErrorAt("body",
                 "a body is sent only with POST, PUT or DELETE (method is " + out.method + ")");
  }
  out.timeout = spec.DurationField("timeout", std::chrono::seconds(1), std::chrono::milliseconds(1),
                                   std::chrono::hours(1));
  ParseExpectStatus(spec, out);

  out.body_contains = spec.OptString("body_contains");
  if (out.body_contains && out.body_contains->empty()) {
    spec.ErrorAt("body_contains", "expected a non-empty string");
  }
  out.body_regex = spec.OptString("body_regex");
  if (out.body_regex) {
    RE2::Options options;
    options.set_log_errors(false);  // the error goes into the diagnostic instead
    auto re = std::make_shared<const RE2>(*out.body_regex, options);
    if (re->ok()) {
      out.body_regex_compiled = std::move(re);
    } else {
      spec.ErrorAt("body_regex", "invalid regular expression (RE2 syntax): " + re->error());
    }
  }
  if (out.method == "HEAD") {
    if (out.body_contains) spec.ErrorAt("body_contains", "a HEAD response has no body to check");
    if (out.body_regex) spec.ErrorAt("body_regex", "a HEAD response has no body to check");
  }

  out.max_latency =
      spec.OptDuration("max_latency", std::chrono::microseconds(1), std::chrono::hours(1));
  if (out.max_latency && *out.max_latency >= out.timeout) {
    spec.ErrorAt("max_latency", "must be below timeout (" + FormatDuration(out.timeout) +
                                    "), or the probe times out first");
  }
  out.fresh_connection = spec.Bool("fresh_connection", false);
  ParseTls(spec, out);
  spec.Finish();
  if (spec.diagnostics()->size() != problems_before) return std::nullopt;
  return out;
}

}  // namespace gameday
