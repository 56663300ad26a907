// StopChecker: stop strings split across chunks, stop tokens, max_tokens, UTF-8 hold-back.
#include "runtime/stop.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace dsv4 {
namespace {

StopChecker Make(StopParams params) {
  Result<StopChecker> c = StopChecker::Create(std::move(params));
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return std::move(c).value();
}

constexpr int32_t kAnyToken = 42;
constexpr int32_t kEos = 1;

TEST(StopString, SplitAcrossChunksIsNeverEmitted) {
  StopChecker c = Make({.stop_strings = {"</s>"}});
  StopUpdate u = c.Append(kAnyToken, "Hello<");
  EXPECT_EQ(u.text, "Hello");  // "<" could start "</s>"
  EXPECT_FALSE(u.stopped());
  u = c.Append(kAnyToken, "/");
  EXPECT_EQ(u.text, "");
  u = c.Append(kAnyToken, "s>world");
  EXPECT_EQ(u.text, "");
  EXPECT_EQ(u.reason, StopReason::kStopString);
  EXPECT_EQ(u.stop_string, "</s>");
  EXPECT_TRUE(c.stopped());
  EXPECT_EQ(c.emitted_bytes(), 5u);
  EXPECT_EQ(c.Flush(), "");  // nothing after the stop string survives
}

TEST(StopString, FalseAlarmReleasesHeldText) {
  StopChecker c = Make({.stop_strings = {"</s>"}});
  EXPECT_EQ(c.Append(kAnyToken, "a<").text, "a");
  EXPECT_EQ(c.Append(kAnyToken, "/b").text, "</b");
}

TEST(StopString, InsideOneChunk) {
  StopChecker c = Make({.stop_strings = {"STOP"}});
  const StopUpdate u = c.Append(kAnyToken, "abcSTOPdef");
  EXPECT_EQ(u.text, "abc");
  EXPECT_EQ(u.reason, StopReason::kStopString);
}

TEST(StopString, EarliestOccurrenceWins) {
  StopChecker c = Make({.stop_strings = {"world", "lo w"}});
  const StopUpdate u = c.Append(kAnyToken, "hello world");
  EXPECT_EQ(u.text, "hel");
  EXPECT_EQ(u.stop_string, "lo w");
}

TEST(StopString, HoldsTheLongestPossiblePrefix) {
  StopChecker c = Make({.stop_strings = {"abab", "xyz"}});
  EXPECT_EQ(c.Append(kAnyToken, "xab").text, "x");  // "ab" may start "abab"
  EXPECT_EQ(c.Append(kAnyToken, "a").text, "");     // "aba"
  EXPECT_EQ(c.Append(kAnyToken, "c").text, "abac");
  EXPECT_EQ(c.Append(kAnyToken, "ababx").text, "");  // full "abab": stop
  EXPECT_EQ(c.reason(), StopReason::kStopString);
}

TEST(StopString, OverlappingRestartIsFound) {
  StopChecker c = Make({.stop_strings = {"abab"}});
  EXPECT_EQ(c.Append(kAnyToken, "aba").text, "");
  const StopUpdate u = c.Append(kAnyToken, "bab");  // "ababab": match at 0
  EXPECT_EQ(u.text, "");
  EXPECT_TRUE(u.stopped());
}

TEST(StopToken, StopsWithoutEmittingItsText) {
  StopChecker c = Make({.stop_token_ids = {kEos, 7}, .stop_strings = {"</"}});
  EXPECT_EQ(c.Append(kAnyToken, "a<").text, "a");
  const StopUpdate u = c.Append(kEos, "<｜end▁of▁sentence｜>");
  EXPECT_EQ(u.text, "<");  // the held-back "<" was not a stop string after all
  EXPECT_EQ(u.reason, StopReason::kStopToken);
  EXPECT_EQ(u.stop_token, kEos);
  EXPECT_EQ(c.tokens(), 2);
}

TEST(MaxTokens, StopsAndFlushes) {
  StopChecker c = Make({.stop_strings = {"xyz"}, .max_tokens = 3});
  EXPECT_FALSE(c.Append(kAnyToken, "a").stopped());
  EXPECT_FALSE(c.Append(kAnyToken, "b").stopped());
  const StopUpdate u = c.Append(kAnyToken, "cx");
  EXPECT_EQ(u.reason, StopReason::kMaxTokens);
  EXPECT_EQ(u.text, "cx");  // the held "x" is released: generation is over
}

TEST(MaxTokens, StopStringOnTheLastTokenWins) {
  StopChecker c = Make({.stop_strings = {"!"}, .max_tokens = 1});
  const StopUpdate u = c.Append(kAnyToken, "hi!");
  EXPECT_EQ(u.reason, StopReason::kStopString);
  EXPECT_EQ(u.text, "hi");
}

TEST(MaxTokens, ZeroMeansNoLimit) {
  StopChecker c = Make({});
  for (int i = 0; i < 1000; ++i) ASSERT_FALSE(c.Append(kAnyToken, "z").stopped());
  EXPECT_EQ(c.tokens(), 1000);
  EXPECT_EQ(c.emitted_bytes(), 1000u);
}

TEST(Utf8, IncompleteCharacterIsHeldBack) {
  StopChecker c = Make({});
  EXPECT_EQ(c.Append(kAnyToken, "a\xC3").text, "a");  // first byte of "é"
  EXPECT_EQ(c.Append(kAnyToken, "\xA9").text, "\xC3\xA9");
  EXPECT_EQ(c.Append(kAnyToken, "\xE2").text, "");  // "€" = E2 82 AC, one byte at a time
  EXPECT_EQ(c.Append(kAnyToken, "\x82").text, "");
  EXPECT_EQ(c.Append(kAnyToken, "\xAC!").text, "\xE2\x82\xAC!");
  EXPECT_EQ(c.Append(kAnyToken, "\xF0\x9F").text, "");  // 4-byte emoji, half of it
  EXPECT_EQ(c.Flush(), "\xF0\x9F");                     // the end releases it as is
}

TEST(StopChecker, FlushReleasesHeldText) {
  StopChecker c = Make({.stop_strings = {"END"}});
  EXPECT_EQ(c.Append(kAnyToken, "the EN").text, "the ");
  EXPECT_EQ(c.Flush(), "EN");
  EXPECT_FALSE(c.stopped());
}

TEST(StopChecker, RejectsBadParams) {
  Result<StopChecker> empty = StopChecker::Create({.stop_strings = {"ok", ""}});
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("stop string 1 is empty"), std::string::npos);
  EXPECT_FALSE(StopChecker::Create({.max_tokens = -1}).ok());
}

TEST(StopChecker, ReasonNames) {
  EXPECT_STREQ(StopReasonName(StopReason::kNone), "none");
  EXPECT_STREQ(StopReasonName(StopReason::kStopToken), "stop_token");
  EXPECT_STREQ(StopReasonName(StopReason::kStopString), "stop_string");
  EXPECT_STREQ(StopReasonName(StopReason::kMaxTokens), "max_tokens");
}

}  // namespace
}  // namespace dsv4
