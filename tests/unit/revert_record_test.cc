#include "experiments/revert_record.h"

#include <gtest/gtest.h>

#include <string>

namespace gameday {
namespace {

Status Parse(const std::string& text) {
  rapidjson::Document doc;
  return ParseRevertRecord(text, "pod-kill", {"name", "uid"}, &doc);
}

TEST(RevertRecordTest, AcceptsAnObjectWithStringFields) {
  rapidjson::Document doc;
  ASSERT_TRUE(ParseRevertRecord(R"({"name":"web-1","uid":"u","other":3})", "pod-kill",
                                {"name", "uid"}, &doc)
                  .ok());
  EXPECT_STREQ(doc["name"].GetString(), "web-1");
  EXPECT_TRUE(Parse(R"({})").ok());  // absent fields are the caller's to require
}

TEST(RevertRecordTest, NamesWhatIsWrong) {
  Status s = Parse(R"({"name":"web-1","uid":7})");
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(s.message(), "invalid pod-kill revert record: uid is not a string");
  EXPECT_EQ(Parse("[1,2]").message(), "invalid pod-kill revert record: not a JSON object");
  EXPECT_EQ(Parse("\"text\"").message(), "invalid pod-kill revert record: not a JSON object");
  s = Parse("{\"name\":");
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(s.message().rfind("invalid pod-kill revert record: JSON", 0), 0u) << s.message();
}

TEST(RevertRecordTest, RefusesDeepOrHugeRecords) {
  EXPECT_EQ(Parse(R"({"a":{"b":{"c":{"d":{"e":1}}}}})").code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(Parse(R"({"a":{"b":{"c":1}}})").ok());
  const std::string huge = "{\"name\":\"" + std::string(size_t{1} << 20, 'x') + "\"}";
  EXPECT_EQ(Parse(huge).code(), Status::Code::kInvalidArgument);
}

TEST(RevertRecordTest, PlainTextHasNoControlCharacters) {
  EXPECT_FALSE(HasControlChar("/home/me/.kube/config"));
  EXPECT_TRUE(HasControlChar(std::string("a\0b", 3)));
  EXPECT_TRUE(HasControlChar("a\nb"));
  EXPECT_TRUE(HasControlChar("a\x7f"));
  EXPECT_FALSE(HasControlChar("caf\xc3\xa9"));  // UTF-8 is not control
  EXPECT_TRUE(IsPlainText(""));
  EXPECT_TRUE(IsPlainText(std::string(4096, 'a')));
  EXPECT_FALSE(IsPlainText(std::string(4097, 'a')));
  EXPECT_FALSE(IsPlainText("ctx\t1"));
}

}  // namespace
}  // namespace gameday
