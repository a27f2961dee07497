#include "experiments/shell_quote.h"

#include <gtest/gtest.h>

namespace gameday {
namespace {

TEST(ShellQuoteTest, MakesOneSingleQuotedWord) {
  EXPECT_EQ(ShellQuote(""), "''");
  EXPECT_EQ(ShellQuote("plain"), "'plain'");
  EXPECT_EQ(ShellQuote("a b;$(rm -rf /)`x`\"\\"), "'a b;$(rm -rf /)`x`\"\\'");
  EXPECT_EQ(ShellQuote("it's"), "'it'\\''s'");
  EXPECT_EQ(ShellQuote("''"), "''\\'''\\'''");
  EXPECT_EQ(ShellQuote("line\nbreak"), "'line\nbreak'");
}

}  // namespace
}  // namespace gameday
