#include "experiments/json.h"

#include <gtest/gtest.h>

#include <string>

namespace gameday {
namespace {

TEST(ParseJsonTest, ParsesAnObject) {
  rapidjson::Document doc;
  ASSERT_TRUE(ParseJson(R"({"a": [1, 2, {"b": "]]]"}]})", &doc).ok());
  ASSERT_TRUE(doc.IsObject());
  EXPECT_EQ(doc["a"].Size(), 3u);
}

TEST(ParseJsonTest, RefusesDeepNestingWithoutRecursing) {
  // 300,000 '[' overflowed the stack of the recursive parser.
  rapidjson::Document doc;
  Status st = ParseJson(std::string(300000, '['), &doc);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("nested deeper than 128 at byte 128"), std::string::npos)
      << st.message();
  EXPECT_TRUE(doc.IsNull());
}

TEST(ParseJsonTest, BracketsInsideStringsDoNotCount) {
  rapidjson::Document doc;
  const std::string text = "{\"s\": \"" + std::string(1000, '[') + "\\\"" + "\"}";
  EXPECT_TRUE(ParseJson(text, &doc).ok());
}

TEST(ParseJsonTest, RefusesOversizedInput) {
  rapidjson::Document doc;
  JsonLimits limits;
  limits.max_bytes = 10;
  Status st = ParseJson("[1,2,3,4,5,6]", &doc, limits);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("13 bytes, more than the limit of 10"), std::string::npos);
}

TEST(ParseJsonTest, SyntaxErrorNamesTheByte) {
  rapidjson::Document doc;
  Status st = ParseJson("{\"a\" 1}", &doc);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("at byte 5"), std::string::npos) << st.message();
}

TEST(ParseJsonTest, DepthAtTheLimitIsFine) {
  rapidjson::Document doc;
  JsonLimits limits;
  limits.max_depth = 3;
  EXPECT_TRUE(ParseJson("[[[1]]]", &doc, limits).ok());
  EXPECT_FALSE(ParseJson("[[[[1]]]]", &doc, limits).ok());
}

}  // namespace
}  // namespace gameday
