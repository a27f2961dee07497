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

// RapidJSON's full-precision path has undefined behaviour on a zero significand with an exponent
// (tests/fuzz/crashes/result/rapidjson-full-precision-clz0); such documents are read exactly
// without it. The ASan+UBSan unit tier fails here if the flag were still used.
TEST(ParseJsonTest, ZeroWithAnExponentIsReadWithoutTheFullPrecisionPath) {
  JsonLimits limits;
  limits.full_precision = true;
  rapidjson::Document doc;
  ASSERT_TRUE(ParseJson("[0E70, -0.00e+40, 1.5, \"0e9\", 0.1]", &doc, limits).ok());
  EXPECT_EQ(doc[0].GetDouble(), 0.0);
  EXPECT_EQ(doc[1].GetDouble(), 0.0);
  EXPECT_EQ(doc[2].GetDouble(), 1.5);
  EXPECT_EQ(doc[4].GetDouble(), 0.1);
  EXPECT_FALSE(ParseJson("0E70E", &doc, limits).ok());
  ASSERT_TRUE(ParseJson("[0.0000000000000000000000000000000000000, -0.0, 0]", &doc, limits).ok());
  EXPECT_EQ(doc[0].GetDouble(), 0.0);
  // RapidJSON's number ends at the second '.': the zero before it is what it reads.
  EXPECT_FALSE(ParseJson("[0.00000000000000000000000.00000000000001601]", &doc, limits).ok());
  // Numbers far outside a double's range are read by the ordinary path too.
  const std::string tiny = "[0." + std::string(340, '0') + "5124095576030430611, 1e-400]";
  ASSERT_TRUE(ParseJson(tiny, &doc, limits).ok());
  EXPECT_EQ(doc[0].GetDouble(), 0.0);
  EXPECT_EQ(doc[1].GetDouble(), 0.0);
  // Exponents on other numbers keep the full-precision path, and long runs of them are linear.
  std::string many = "[";
  for (int i = 0; i < 100000; ++i) many += "1e1,";
  many += "2.5E-3]";
  ASSERT_TRUE(ParseJson(many, &doc, limits).ok());
  EXPECT_EQ(doc.Size(), 100001u);
}

}  // namespace
}  // namespace gameday
