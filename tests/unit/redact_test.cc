// Secrets out of displays, messages and reports: what is hidden, what stays readable, and that
// redacting twice changes nothing.

#include "experiments/redact.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace gameday {
namespace {

std::string Join(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& a : argv) out += (out.empty() ? "" : " ") + a;
  return out;
}

TEST(RedactTest, FlagsWithEquals) {
  EXPECT_EQ(RedactSecrets("app --password=hunter2 --port=80"), "app --password=*** --port=80");
  EXPECT_EQ(RedactSecrets("app --db-password='a b c' -v"), "app --db-password=*** -v");
  EXPECT_EQ(RedactSecrets("--token=abc --api-key=k1 --api_key=k2 --client-secret=s"),
            "--token=*** --api-key=*** --api_key=*** --client-secret=***");
  EXPECT_EQ(RedactSecrets("-passphrase=x"), "-passphrase=***");
}

TEST(RedactTest, EnvironmentAssignments) {
  EXPECT_EQ(RedactSecrets("env PGPASSWORD=hunter2 DB_TOKEN=t STRIPE_KEY=k HOME=/root psql"),
            "env PGPASSWORD=*** DB_TOKEN=*** STRIPE_KEY=*** HOME=/root psql");
  // "key" as a part of a lower-case flag is not a secret on its own (keyspace, key-name).
  EXPECT_EQ(RedactSecrets("--keyspace=x --monkey=y"), "--keyspace=x --monkey=y");
}

TEST(RedactTest, FlagFollowedByValue) {
  EXPECT_EQ(RedactSecrets("sh -c 'mysql --password hunter2 -h db'"),
            "sh -c 'mysql --password *** -h db'");
  EXPECT_EQ(Join(RedactArgv({"app", "--password", "hunter2", "--token", "t0k", "--verbose"})),
            "app --password *** --token *** --verbose");
  // A flag without a value keeps the next flag.
  EXPECT_EQ(Join(RedactArgv({"app", "--password", "--verbose"})), "app --password --verbose");
}

TEST(RedactTest, FilesAndPathsStayReadable) {
  const std::string apiserver =
      "kube-apiserver --token-auth-file=/etc/k/tokens.csv --tls-private-key-file=/etc/k/key.pem "
      "--authorization-mode=Node,RBAC --service-account-key-file=/etc/k/sa.pub";
  EXPECT_EQ(RedactSecrets(apiserver), apiserver);
  EXPECT_EQ(Join(RedactArgv({"docker", "login", "--password-stdin", "registry"})),
            "docker login --password-stdin registry");
}

TEST(RedactTest, UrlPasswords) {
  EXPECT_EQ(RedactSecrets("pushing to https://ci:s3cret@push.example:9091/metrics failed"),
            "pushing to https://ci:***@push.example:9091/metrics failed");
  EXPECT_EQ(RedactSecrets("http://u:p@a@127.0.0.1/x"), "http://u:***@127.0.0.1/x");
  // A user name alone, or an '@' in the path, is no password.
  EXPECT_EQ(RedactSecrets("ssh://deploy@127.0.0.1/x"), "ssh://deploy@127.0.0.1/x");
  EXPECT_EQ(RedactSecrets("http://127.0.0.1/a:b@c"), "http://127.0.0.1/a:b@c");
  EXPECT_EQ(RedactSecrets("'http://a:b@h'"), "'http://a:***@h'");
}

TEST(RedactTest, QueryParameters) {
  EXPECT_EQ(RedactSecrets("GET http://127.0.0.1/q?x=1&access_token=abc&y=2"),
            "GET http://127.0.0.1/q?x=1&access_token=***&y=2");
  EXPECT_EQ(RedactSecrets("http://127.0.0.1/?apikey=abc#f"), "http://127.0.0.1/?apikey=***#f");
}

TEST(RedactTest, AuthorizationHeaders) {
  EXPECT_EQ(RedactSecrets("Authorization: Bearer eyJhbGciOi.x.y"), "Authorization: Bearer ***");
  EXPECT_EQ(RedactSecrets("curl -H 'Authorization: Basic dXNlcjpwdw==' http://h"),
            "curl -H 'Authorization: Basic ***' http://h");
  EXPECT_EQ(RedactSecrets("proxy-authorization:abc def"), "proxy-authorization:*** def");
  EXPECT_EQ(RedactSecrets("sent bearer abc123"), "sent bearer ***");
}

TEST(RedactTest, CommandLineSpecials) {
  EXPECT_EQ(Join(RedactArgv({"/usr/bin/mysql", "-uroot", "-phunter2", "-P", "3306"})),
            "/usr/bin/mysql -uroot -p*** -P 3306");
  // Anywhere else -p is a port and stays.
  EXPECT_EQ(Join(RedactArgv({"ssh", "-p", "2222", "host"})), "ssh -p 2222 host");
  EXPECT_EQ(Join(RedactArgv({"redis-cli", "-p", "6379"})), "redis-cli -p 6379");
  EXPECT_EQ(Join(RedactArgv({"curl", "-u", "ci:hunter2", "http://h"})), "curl -u ci:*** http://h");
  EXPECT_EQ(Join(RedactArgv({"curl", "--user=ci:hunter2"})), "curl --user=ci:***");
}

TEST(RedactTest, IdempotentAndHarmless) {
  const std::vector<std::string> samples = {
      "app --password=hunter2 PASSWORD=x https://u:p@h/?token=t Authorization: Bearer b",
      "plain text with = signs and a: colon, no secrets",
      "",
      "--password",
      "http://",
      "Authorization:",
      "x://@",
  };
  for (const std::string& s : samples) {
    const std::string once = RedactSecrets(s);
    EXPECT_EQ(RedactSecrets(once), once) << s;
    EXPECT_FALSE(ContainsSecret(once)) << once;
  }
  EXPECT_EQ(RedactSecrets(samples[1]), samples[1]);
  EXPECT_TRUE(ContainsSecret("x --password=hunter2"));
  EXPECT_FALSE(ContainsSecret("x --password=***"));
}

TEST(RedactTest, SecretNames) {
  for (const char* yes : {"password", "--PASSWORD", "db_passwd", "api-key", "APIKEY", "x-token",
                          "aws_secret_access_key", "pass", "pw", "SERVICE_KEY", "credentials"}) {
    EXPECT_TRUE(LooksLikeSecretName(yes)) << yes;
  }
  for (const char* no : {"port", "path", "passive", "key-file", "password-file", "keyspace",
                         "token_path", "user", "--", ""}) {
    EXPECT_FALSE(LooksLikeSecretName(no)) << no;
  }
}

}  // namespace
}  // namespace gameday
