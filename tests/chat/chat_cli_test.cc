// `dsv4 encode-chat` and `dsv4 parse-completion` as real subprocesses.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>

#include "chat_fixtures.h"

namespace dsv4 {
namespace {

using nlohmann::ordered_json;

struct CliRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

CliRun RunDsv4(const std::string& args) {
  std::string err_path = ::testing::TempDir() + "/dsv4_chat_cli_stderr.txt";
  std::string cmd = std::string(DSV4_BINARY) + " " + args + " 2>" + err_path;
  CliRun run;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return run;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof(buf), pipe)) > 0;) run.out.append(buf, n);
  int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  run.err = testing::ReadText(err_path);
  return run;
}

std::string WriteTemp(const std::string& name, const std::string& text) {
  std::string path = ::testing::TempDir() + "/" + name;
  FILE* f = std::fopen(path.c_str(), "wb");
  std::fwrite(text.data(), 1, text.size(), f);
  std::fclose(f);
  return path;
}

TEST(ChatCli, EncodeChatPrintsExactPrompt) {
  for (const ordered_json& c : testing::OfficialCases()) {
    std::string request = WriteTemp("request.json", testing::OfficialRequest(c).dump());
    CliRun run = RunDsv4("encode-chat --request " + request);
    EXPECT_EQ(run.exit_code, 0) << run.err;
    EXPECT_EQ(run.out, testing::ReadText(testing::EncodingDir() + "/official/" +
                                         c["expected_output_file"].get<std::string>()));
  }
}

TEST(ChatCli, EncodeChatErrorExitsNonZero) {
  for (const ordered_json& c : testing::GeneratedCases()) {
    if (c["kind"] != "encode" || !c.contains("expected_error")) continue;
    std::string request = WriteTemp("bad_request.json", c["args"].dump());
    CliRun run = RunDsv4("encode-chat --request " + request);
    EXPECT_NE(run.exit_code, 0);
    EXPECT_TRUE(run.out.empty());
    EXPECT_NE(run.err.find(c["expected_error"]["type"].get<std::string>()), std::string::npos)
        << run.err;
    EXPECT_NE(run.err.find(c["expected_error"]["message"].get<std::string>()), std::string::npos);
  }
  EXPECT_NE(RunDsv4("encode-chat --request /nonexistent/request.json").exit_code, 0);
}

TEST(ChatCli, ParseCompletionPrintsMessageJson) {
  int ok_cases = 0;
  int error_cases = 0;
  for (const ordered_json& c : testing::GeneratedCases()) {
    if (c["kind"] != "parse") continue;
    std::string text = WriteTemp("completion.txt", c["args"]["text"]);
    CliRun run = RunDsv4("parse-completion --mode " +
                         c["args"]["thinking_mode"].get<std::string>() + " --text-file " + text);
    if (c.contains("expected_error")) {
      EXPECT_NE(run.exit_code, 0) << c["id"];
      EXPECT_NE(run.err.find(c["expected_error"]["message"].get<std::string>()), std::string::npos);
      ++error_cases;
    } else {
      ASSERT_EQ(run.exit_code, 0) << c["id"] << run.err;
      EXPECT_EQ(ordered_json::parse(run.out), c["expected"]) << c["id"];
      ++ok_cases;
    }
  }
  EXPECT_EQ(ok_cases, 9);
  EXPECT_EQ(error_cases, 6);
  EXPECT_NE(RunDsv4("parse-completion --mode fast --text-file x").exit_code, 0);
}

}  // namespace
}  // namespace dsv4
