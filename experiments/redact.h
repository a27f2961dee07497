#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace gameday {

// Secrets out of everything a person or a file sees: target displays, verifier descriptions,
// error messages, events and reports. The replacement is always "***", and redacting redacted
// text changes nothing. What counts as a secret:
//
// - URL userinfo passwords: "https://user:pw@host" -> "https://user:***@host";
// - query parameters with a secret-looking name: "?token=abc" -> "?token=***";
// - "Authorization: Bearer abc" / "Basic abc" (and Proxy-Authorization) -> "... Bearer ***";
// - words "--password=x", "-password=x", "PASSWORD=x", "db_password=x": a name that looks like
//   a secret followed by "=" (see LooksLikeSecretName);
// - in a command line (RedactArgv) also the word after such a flag ("--password x"), curl's
//   "-u user:pw", and the mysql family's "-pPASSWORD". A bare "-p" is left alone: for ssh, psql,
//   redis-cli, nc and most tools it is a port.
//
// Flags naming a file, path or folder ("--token-auth-file=/etc/tokens.csv", kube-apiserver's
// "--tls-private-key-file") hold no secret themselves and are kept, so a target stays readable.

// A name (flag without its dashes, environment variable, query parameter) that holds a secret:
// it contains password, passwd, passphrase, secret, token, apikey/api_key/api-key, access_key,
// private_key, credential or auth_key (any case; '-' and '_' alike), or is "pass", "pw" or "pwd"
// — unless it ends in file, path, dir or stdin.
bool LooksLikeSecretName(std::string_view name);

// `text` with every secret above replaced by "***". Linear in the size of `text`.
std::string RedactSecrets(std::string_view text);

// A command line with its secrets replaced, argument by argument (each argument also through
// RedactSecrets, for "sh -c '... --password=x'").
std::vector<std::string> RedactArgv(const std::vector<std::string>& argv);

// True when RedactSecrets would change `text`: for checks that nothing secret is shown.
bool ContainsSecret(std::string_view text);

}  // namespace gameday
