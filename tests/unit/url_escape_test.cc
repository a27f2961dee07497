#include "clients/curl/url_escape.h"

#include <gtest/gtest.h>

namespace gameday {
namespace {

TEST(UrlEscapeTest, KeepsUnreservedCharacters) {
  EXPECT_EQ(UrlEncode("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(UrlEncode(""), "");
}

TEST(UrlEscapeTest, EncodesEverythingElseWithUpperCaseHex) {
  EXPECT_EQ(UrlEncode("up{job=\"x\"} / 2"), "up%7Bjob%3D%22x%22%7D%20%2F%202");
  EXPECT_EQ(UrlEncode("a+b&c=d?e#f%"), "a%2Bb%26c%3Dd%3Fe%23f%25");
  EXPECT_EQ(UrlEncode(std::string("\0\xff\x80", 3)), "%00%FF%80");
  EXPECT_EQ(UrlEncode("\xc3\xa9"), "%C3%A9");  // UTF-8 bytes one by one
}

}  // namespace
}  // namespace gameday
