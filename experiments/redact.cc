#include "experiments/redact.h"

#include <algorithm>
#include <cctype>

namespace gameday {
namespace {

constexpr std::string_view kMask = "***";

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v'; }
bool IsQuote(char c) { return c == '"' || c == '\'' || c == '`'; }
bool IsNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
}
// Where a word may start: after these, "PASSWORD=x" is a word of its own.
bool IsWordBoundary(char c) {
  return IsSpace(c) || IsQuote(c) || c == '(' || c == '[' || c == '{' || c == ',' || c == ';' ||
         c == ':' || c == '=';
}
// Where a secret value ends when it is not quoted.
bool EndsValue(char c) {
  return IsSpace(c) || IsQuote(c) || c == '&' || c == ',' || c == ';' || c == ')' || c == ']' ||
         c == '}' || c == '<' || c == '>';
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool StartsWithNoCase(std::string_view text, size_t at, std::string_view word) {
  if (text.size() - at < word.size()) return false;
  for (size_t k = 0; k < word.size(); ++k) {
    if (std::tolower(static_cast<unsigned char>(text[at + k])) != word[k]) return false;
  }
  return true;
}

// The end of a value starting at `i`: a quoted value up to its closing quote, else up to the
// first character that ends a value.
// In a URL query (`in_query`) a '#' ends the value too.
size_t ValueEnd(std::string_view text, size_t i, bool in_query = false) {
  if (i < text.size() && IsQuote(text[i])) {
    const size_t close = text.find(text[i], i + 1);
    return close == std::string_view::npos ? text.size() : close + 1;
  }
  while (i < text.size() && !EndsValue(text[i]) && !(in_query && text[i] == '#')) ++i;
  return i;
}

size_t TokenEnd(std::string_view text, size_t i) {
  while (i < text.size() && !IsSpace(text[i]) && !IsQuote(text[i])) ++i;
  return i;
}

// "://user:pw@" at `i` (pointing at "://"): the length consumed and the masked authority
// appended to `out`; 0 when there is no password to hide.
size_t MaskUserinfo(std::string_view text, size_t i, std::string* out) {
  const size_t start = i + 3;
  size_t end = start;
  while (end < text.size() && text[end] != '/' && text[end] != '?' && text[end] != '#' &&
         !IsSpace(text[end]) && !IsQuote(text[end]) && text[end] != '<' && text[end] != '>') {
    ++end;
  }
  const size_t at = text.rfind('@', end == 0 ? 0 : end - 1);
  if (at == std::string_view::npos || at < start) return 0;
  const size_t colon = text.find(':', start);
  if (colon == std::string_view::npos || colon > at) return 0;
  out->append("://");
  out->append(text.substr(start, colon + 1 - start));
  out->append(kMask);
  out->push_back('@');
  return at + 1 - i;
}

// "Authorization: Bearer abc" / "authorization=Basic abc" at `i`; the length consumed.
size_t MaskAuthorization(std::string_view text, size_t i, std::string* out) {
  constexpr std::string_view kWord = "authorization";
  size_t j = i + kWord.size();
  while (j < text.size() && (text[j] == ' ' || text[j] == '\t')) ++j;
  if (j >= text.size() || (text[j] != ':' && text[j] != '=')) return 0;
  ++j;
  while (j < text.size() && (text[j] == ' ' || text[j] == '\t')) ++j;
  if (j < text.size() && IsQuote(text[j])) ++j;
  // An auth scheme (Bearer, Basic, Token, ...) stays readable; the credentials after it go.
  size_t scheme_end = j;
  while (scheme_end < text.size() && std::isalpha(static_cast<unsigned char>(text[scheme_end]))) {
    ++scheme_end;
  }
  const std::string scheme = Lower(text.substr(j, scheme_end - j));
  static const char* const kSchemes[] = {"basic",     "bearer", "digest", "token",
                                         "negotiate", "ntlm",   "apikey", "aws"};
  const bool is_scheme = std::any_of(std::begin(kSchemes), std::end(kSchemes),
                                     [&](const char* s) { return scheme == s; });
  size_t cred = j;
  if (is_scheme && scheme_end < text.size() && text[scheme_end] == ' ') {
    cred = scheme_end + 1;
    while (cred < text.size() && text[cred] == ' ') ++cred;
  }
  const size_t cred_end = TokenEnd(text, cred);
  if (cred_end == cred) return 0;
  out->append(text.substr(i, cred - i));
  out->append(kMask);
  return cred_end - i;
}

bool IsMysqlClient(const std::string& argv0) {
  const size_t slash = argv0.find_last_of('/');
  const std::string base = slash == std::string::npos ? argv0 : argv0.substr(slash + 1);
  static const char* const kNames[] = {"mysql",      "mysqldump",    "mysqladmin",
                                       "mysqlcheck", "mysqlimport",  "mysqlshow",
                                       "mariadb",    "mariadb-dump", "mariadb-admin"};
  return std::any_of(std::begin(kNames), std::end(kNames),
                     [&](const char* n) { return base == n; });
}

// "user:pw" -> "user:***" (curl's -u); unchanged without a colon.
std::string MaskAfterColon(const std::string& s) {
  const size_t colon = s.find(':');
  return colon == std::string::npos ? s : s.substr(0, colon + 1) + std::string(kMask);
}

std::string_view StripDashes(std::string_view s) {
  while (!s.empty() && s.front() == '-') s.remove_prefix(1);
  return s;
}

}  // namespace

bool LooksLikeSecretName(std::string_view raw) {
  const std::string_view name = StripDashes(raw);
  if (name.empty()) return false;
  std::string n = Lower(name);
  std::replace(n.begin(), n.end(), '_', '-');
  std::replace(n.begin(), n.end(), '.', '-');
  for (const char* suffix : {"file", "path", "dir", "stdin", "files", "filename"}) {
    const std::string_view s(suffix);
    if (n.size() >= s.size() && n.compare(n.size() - s.size(), s.size(), s) == 0) return false;
  }
  if (n == "pass" || n == "pw" || n == "pwd") return true;
  for (const char* marker : {"password", "passwd", "passphrase", "secret", "token", "apikey",
                             "api-key", "access-key", "private-key", "credential", "auth-key"}) {
    if (n.find(marker) != std::string::npos) return true;
  }
  // An environment variable such as STRIPE_KEY: "KEY" as a whole part of an upper-case name.
  const bool upper = std::none_of(
      name.begin(), name.end(), [](char c) { return std::islower(static_cast<unsigned char>(c)); });
  if (upper) {
    const std::string padded = "-" + n + "-";
    if (padded.find("-key-") != std::string::npos) return true;
  }
  return false;
}

std::string RedactSecrets(std::string_view text) {
  constexpr std::string_view kAuthorization = "authorization";
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  bool mask_next_word = false;  // after a "--password" word: the next word is its value
  while (i < text.size()) {
    const char c = text[i];
    const bool word_start = i == 0 || IsWordBoundary(text[i - 1]);
    if (mask_next_word && !IsSpace(c)) {
      mask_next_word = false;
      if (word_start && c != '-') {
        out.append(kMask);
        i = ValueEnd(text, i);
        continue;
      }
    }
    if (c == ':' && text.compare(i, 3, "://") == 0) {
      if (size_t n = MaskUserinfo(text, i, &out)) {
        i += n;
        continue;
      }
    }
    if ((c == 'b' || c == 'B') && word_start && StartsWithNoCase(text, i, "bearer ")) {
      size_t cred = i + 7;
      while (cred < text.size() && text[cred] == ' ') ++cred;
      const size_t end = TokenEnd(text, cred);
      if (end > cred) {
        out.append(text.substr(i, cred - i));
        out.append(kMask);
        i = end;
        continue;
      }
    }
    // NAME=value as a word of its own, or as a URL query parameter (?NAME=value, &NAME=value).
    const bool query = i > 0 && (text[i - 1] == '?' || text[i - 1] == '&');
    if ((word_start || query) && IsNameChar(c)) {
      size_t j = i;
      while (j < text.size() && IsNameChar(text[j])) ++j;
      const std::string_view name = text.substr(i, j - i);
      if (j < text.size() && text[j] == '=' && LooksLikeSecretName(name)) {
        out.append(text.substr(i, j + 1 - i));
        const size_t end = ValueEnd(text, j + 1, query);
        if (end > j + 1) out.append(kMask);
        i = end;
        continue;
      }
      // "Authorization: Bearer abc", "Proxy-Authorization: Basic abc".
      if (name.size() >= kAuthorization.size() &&
          StartsWithNoCase(text, j - kAuthorization.size(), kAuthorization)) {
        const size_t at = j - kAuthorization.size();
        out.append(text.substr(i, at - i));
        if (size_t n = MaskAuthorization(text, at, &out)) {
          i = at + n;
          continue;
        }
        out.append(text.substr(at, j - at));
        i = j;
        continue;
      }
      // "--password value": a flag word on its own, its value the next word.
      if (c == '-' && j < text.size() && text[j] == ' ' && LooksLikeSecretName(name)) {
        mask_next_word = true;
      }
      out.append(name);
      i = j;
      continue;
    }
    out.push_back(c);
    ++i;
  }
  return out;
}

std::vector<std::string> RedactArgv(const std::vector<std::string>& argv) {
  std::vector<std::string> out;
  out.reserve(argv.size());
  for (const std::string& a : argv) out.push_back(RedactSecrets(a));
  const bool mysql = !argv.empty() && IsMysqlClient(argv[0]);
  for (size_t i = 1; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a.size() < 2 || a[0] != '-') continue;
    const bool has_next = i + 1 < argv.size() && !argv[i + 1].empty() && argv[i + 1][0] != '-';
    if (a == "-u" || a == "--user" || a == "--proxy-user" || a == "-U") {
      if (has_next) out[i + 1] = MaskAfterColon(argv[i + 1]);
      continue;
    }
    if (a.rfind("--user=", 0) == 0 || a.rfind("--proxy-user=", 0) == 0) {
      out[i] = MaskAfterColon(a);
      continue;
    }
    if (mysql && a.size() > 2 && a[1] == 'p') {
      out[i] = "-p" + std::string(kMask);
      continue;
    }
    if (a.find('=') == std::string::npos && LooksLikeSecretName(a) && has_next) {
      out[i + 1] = std::string(kMask);
      ++i;
    }
  }
  return out;
}

bool ContainsSecret(std::string_view text) {
  // Every rule needs one of these characters (or "bearer "), and most report text, sample
  // details above all, has none: they skip the full pass.
  bool maybe = false;
  for (size_t i = 0; i < text.size() && !maybe; ++i) {
    const char c = text[i];
    maybe = c == '=' || c == ':' || c == '-' ||
            ((c == 'b' || c == 'B') && StartsWithNoCase(text, i, "bearer "));
  }
  return maybe && RedactSecrets(text) != text;
}

}  // namespace gameday
