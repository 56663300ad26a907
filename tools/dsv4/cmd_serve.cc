// dsv4 serve --model DIR [--host 127.0.0.1] [--port 8080] [--ctx N] [--parallel N] [--api-key KEY]
//            [--queue N] [--name NAME]
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "command.h"
#include "server/http.h"

namespace dsv4 {
namespace {

int RunServe(const std::vector<std::string>& args) {
  std::string model_dir;
  ServerOptions o;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& f = args[i];
    const bool has = i + 1 < args.size();
    if ((f == "--model" || f == "-m") && has) model_dir = args[++i];
    else if (f == "--host" && has) o.host = args[++i];
    else if (f == "--port" && has) o.port = std::atoi(args[++i].c_str());
    else if (f == "--ctx" && has) o.engine.context = std::atoll(args[++i].c_str());
    else if (f == "--parallel" && has) o.engine.parallel = std::atoi(args[++i].c_str());
    else if (f == "--queue" && has) o.engine.queue_limit = std::atoi(args[++i].c_str());
    else if (f == "--api-key" && has) o.api_key = args[++i];
    else if (f == "--name" && has) o.model_name = args[++i];
    else {
      model_dir.clear();
      break;
    }
  }
  if (model_dir.empty() || o.port <= 0 || o.port > 65535 || o.engine.parallel < 1 || o.engine.queue_limit < 0) {
    std::fprintf(stderr, "usage: dsv4 serve --model DIR [--host 127.0.0.1] [--port 8080] [--ctx N] "
                         "[--parallel N] [--queue N] [--api-key KEY] [--name NAME]\n");
    return 2;
  }
  auto model = Model::Load(model_dir, /*progress=*/true);
  if (!model.ok()) {
    std::fprintf(stderr, "dsv4 serve: %s\n", model.status().ToString().c_str());
    return 1;
  }
  auto tok = Tokenizer::Load(model_dir);
  if (!tok.ok()) {
    std::fprintf(stderr, "dsv4 serve: %s\n", tok.status().ToString().c_str());
    return 1;
  }
  const Status s = Serve(**model, **tok, o);
  if (!s.ok()) {
    std::fprintf(stderr, "dsv4 serve: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}

const CommandRegistrar kRegistrar{"serve", "OpenAI-compatible HTTP server with continuous batching",
                                  &RunServe};

}  // namespace
}  // namespace dsv4
