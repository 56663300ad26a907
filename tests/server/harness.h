// Shared by the server tests: the small model (made once per test binary by `dsv4 make-model`), a
// real `dsv4 serve` child process on a free loopback port, HTTP helpers and an SSE reader.
// Everything talks to 127.0.0.1 only.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace dsv4_test {

namespace fs = std::filesystem;
// Ordered, like the bodies real clients send: the encoding renders tool schemas in their key order.
using json = nlohmann::ordered_json;

inline constexpr char kApiKey[] = "sekret";

inline std::string TokenizerDir() { return std::string(DSV4_SOURCE_DIR) + "/models/tokenizer"; }

// The default preset (random weights, the real tokenizer), made once and removed at exit.
inline const std::string& ModelDir() {
  struct Dir {
    std::string path;
    Dir() {
      path = (fs::temp_directory_path() / ("dsv4_srv_model_" + std::to_string(getpid()))).string();
      if (!fs::exists(TokenizerDir() + "/tokenizer.json")) {
        std::system((std::string(DSV4_SOURCE_DIR) + "/scripts/fetch-tokenizer.sh").c_str());
      }
      const std::string cmd = std::string(DSV4_BINARY) +
                              " make-model --preset default --seed 9 --out " + path +
                              " --tokenizer " + TokenizerDir() + " 2>/dev/null";
      if (std::system(cmd.c_str()) != 0) path.clear();
    }
    ~Dir() {
      if (!path.empty()) fs::remove_all(path);
    }
  };
  static const Dir dir;
  return dir.path;
}

// A port nobody listens on right now (the kernel's pick for an ephemeral bind).
inline int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    return 0;
  }
  close(fd);
  return ntohs(addr.sin_port);
}

// `dsv4 serve --model <ModelDir()> --port <free> --api-key sekret <extra...>`, its stderr (the
// per-request log) in a file. Started in the constructor (ok() says whether it came up), stopped
// with SIGTERM in the destructor.
class ServerProcess {
 public:
  explicit ServerProcess(std::vector<std::string> extra) {
    if (ModelDir().empty()) return;
    port_ = FreePort();
    log_path_ = (fs::temp_directory_path() /
                 ("dsv4_srv_" + std::to_string(getpid()) + "_" + std::to_string(port_) + ".log"))
                    .string();
    std::vector<std::string> args = {DSV4_BINARY, "serve",  "--model",
                                     ModelDir(),  "--port", std::to_string(port_),
                                     "--api-key", kApiKey};
    args.insert(args.end(), extra.begin(), extra.end());
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);  // a killed test binary leaves no server behind
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      if (!freopen(log_path_.c_str(), "w", stderr)) _exit(126);
      execv(DSV4_BINARY, argv.data());
      _exit(127);
    }
    httplib::Client c("127.0.0.1", port_);
    for (int i = 0; i < 200 && alive(); ++i) {
      if (auto r = c.Get("/health"); r && r->status == 200) {
        ok_ = true;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  ~ServerProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    if (!log_path_.empty()) fs::remove(log_path_);
  }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  bool ok() const { return ok_; }
  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  // True while the child has not exited (reaps it when it has).
  bool alive() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      exit_status_ = status;
      pid_ = -1;
      return false;
    }
    return true;
  }
  int exit_status() const { return exit_status_; }
  std::string log() const {
    std::ifstream in(log_path_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  httplib::Client Client(bool auth = true) const {
    httplib::Client c("127.0.0.1", port_);
    if (auth) c.set_bearer_token_auth(kApiKey);
    c.set_read_timeout(120, 0);
    return c;
  }
  // POSTs JSON; the parsed reply (null when there was none or it was not JSON).
  json Post(const std::string& path, const json& body, int* status = nullptr,
            httplib::Headers* headers = nullptr) const {
    return PostRaw(path, body.dump(), status, headers);
  }
  json PostRaw(const std::string& path, const std::string& body, int* status = nullptr,
               httplib::Headers* headers = nullptr) const {
    auto c = Client();
    auto r = c.Post(path, body, "application/json");
    if (status) *status = r ? r->status : -1;
    if (!r) return json();
    if (headers) *headers = r->headers;
    return json::parse(r->body, nullptr, false);
  }

 private:
  int port_ = 0;
  pid_t pid_ = -1;
  bool ok_ = false;
  int exit_status_ = 0;
  std::string log_path_;
};

// One server-sent event: `event:` name (empty for OpenAI's unnamed events) and its data.
struct SseEvent {
  std::string event;
  json data;          // null for [DONE]
  bool done = false;  // data: [DONE]
  std::string raw;    // the data text
};

// Parses a whole SSE body; comments (": keep-alive") are skipped.
inline std::vector<SseEvent> ParseSse(const std::string& body) {
  std::vector<SseEvent> out;
  std::istringstream in(body);
  std::string line;
  SseEvent cur;
  bool any = false;
  while (std::getline(in, line)) {
    if (line.empty()) {
      if (any) out.push_back(cur);
      cur = SseEvent();
      any = false;
    } else if (line.rfind("event: ", 0) == 0) {
      cur.event = line.substr(7);
      any = true;
    } else if (line.rfind("data: ", 0) == 0) {
      cur.raw = line.substr(6);
      cur.done = cur.raw == "[DONE]";
      if (!cur.done) cur.data = json::parse(cur.raw, nullptr, false);
      any = true;
    }
  }
  if (any) out.push_back(cur);
  return out;
}

// A streaming POST, whole body returned (status in *status).
inline std::string PostStream(const ServerProcess& s, const std::string& path, const json& body,
                              int* status = nullptr) {
  auto c = s.Client();
  auto r = c.Post(path, body.dump(), "application/json");
  if (status) *status = r ? r->status : -1;
  return r ? r->body : std::string();
}

inline json UserChat(const std::string& text, int max_tokens) {
  return {{"model", "dsv4"},
          {"messages", {{{"role", "user"}, {"content", text}}}},
          {"max_tokens", max_tokens},
          {"temperature", 0}};
}

// The value of an unlabelled metric in /metrics text (-1 when absent).
inline double MetricValue(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name + " ", 0) == 0) return std::strtod(line.c_str() + name.size() + 1, nullptr);
  }
  return -1;
}

// A gtest suite sharing one server started with Derived::Flags(); every test fails at once (with
// the server's log) when it did not come up.
template <typename Derived>
class ServerSuite : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new ServerProcess(Derived::Flags()); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(server_ != nullptr && server_->ok())
        << "dsv4 serve did not come up: " << (server_ ? server_->log() : "");
  }
  void TearDown() override {
    EXPECT_TRUE(server_->alive()) << "the server died: " << server_->log();
  }
  static ServerProcess& server() { return *server_; }
  static json Post(const std::string& path, const json& body, int* status = nullptr,
                   httplib::Headers* headers = nullptr) {
    return server_->Post(path, body, status, headers);
  }

  static inline ServerProcess* server_ = nullptr;
};

// VmRSS of a process in KiB (0 when unreadable).
inline long RssKiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return 0;
}

}  // namespace dsv4_test
