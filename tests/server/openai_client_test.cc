// A real client, unchanged: the official `openai` npm package (pinned in openai_client/, installed
// by scripts/setup-openai-client.sh from scripts/setup.sh) runs openai_client/client.mjs against
// `dsv4 serve`: models, chat, streaming, reasoning_content deltas, errors mapped to its classes.
#include <cstdio>

#include "harness.h"

namespace {

using namespace dsv4_test;

const std::string kClientDir = std::string(DSV4_SOURCE_DIR) + "/tests/server/openai_client";

// Runs a shell command; its stdout+stderr and exit code.
int RunCommand(const std::string& cmd, std::string* output) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) output->append(buf, n);
  const int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(OpenAIClient, OfficialNpmPackageWorksUnchanged) {
  std::string version;
  if (RunCommand("node --version", &version) != 0) {
    GTEST_SKIP() << "node is not installed: this test runs the official openai npm client "
                    "(scripts/setup.sh installs Node.js and the client)";
  }
  ASSERT_TRUE(fs::exists(kClientDir + "/node_modules/openai/package.json"))
      << "the pinned openai package is missing: run scripts/setup-openai-client.sh";
  ServerProcess server({"--parallel", "2", "--ctx", "512"});
  ASSERT_TRUE(server.ok()) << server.log();
  std::string out;
  const int rc = RunCommand("node " + kClientDir + "/client.mjs http://127.0.0.1:" +
                                std::to_string(server.port()) + "/v1 " + kApiKey,
                            &out);
  EXPECT_EQ(rc, 0) << "node " << version << out << "\nserver log:\n" << server.log();
  for (const char* check :
       {"ok models", "ok chat", "ok stream", "ok reasoning stream", "ok errors"}) {
    EXPECT_NE(out.find(check), std::string::npos) << check << " missing in:\n" << out;
  }
  EXPECT_TRUE(server.alive());
}

}  // namespace
