// dsv4 serve --model DIR [--host 127.0.0.1] [--port 8080] [--ctx N] [--parallel N] [--api-key KEY]
//            [--queue N] [--pool N] [--prefill-chunk N] [--name NAME] [--threads N]
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "command.h"
#include "kernels/kernels.h"
#include "kernels/thread_pool.h"
#include "server/http.h"

namespace dsv4 {
namespace {

constexpr char kUsage[] =
    "usage: dsv4 serve --model DIR [--host 127.0.0.1] [--port 8080] [--ctx N] [--parallel N]\n"
    "                  [--api-key KEY] [--queue N] [--pool N] [--prefill-chunk N] [--name NAME]\n"
    "                  [--threads N] [--fast-prefill]\n"
    "  --ctx N            tokens per sequence (default: the model's max_position_embeddings)\n"
    "  --parallel N       sequences decoded together (default 4); more requests get 429\n"
    "  --queue N          requests that may wait for a slot instead (default 0)\n"
    "  --pool N           finished sequences kept for prefix reuse (default 4)\n"
    "  --prefill-chunk N  prompt tokens per engine step (default 256)\n"
    "  --threads N        kernel threads (default: DSV4_THREADS, else every hardware thread)\n"
    "  --fast-prefill     oneDNN for steps of 64+ tokens (~10% faster prefill); a request's\n"
    "                     last bits may then depend on what shares its batch (docs/kernels.md)\n"
    "  --api-key KEY      require 'Authorization: Bearer KEY' (or 'x-api-key: KEY')\n"
    "  --name NAME        the model id clients send (default dsv4)\n"
    "Listens on 127.0.0.1 unless --host says otherwise. API: docs/server.md\n";

bool ParseInt(const std::string& s, long long lo, long long hi, long long* out) {
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || v < lo || v > hi) return false;
  *out = v;
  return true;
}

bool ParseFlags(const std::vector<std::string>& args, std::string* model_dir, ServerOptions* o) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& f = args[i];
    if (f == "--fast-prefill") {  // the one flag without a value (kernels.h)
      SetFastPrefill(true);
      continue;
    }
    if (f == "--help" || f == "-h" || i + 1 >= args.size()) return false;
    const std::string& v = args[++i];
    long long n = 0;
    if (f == "--model" || f == "-m") *model_dir = v;
    else if (f == "--host") o->host = v;
    else if (f == "--api-key") o->api_key = v;
    else if (f == "--name") o->model_name = v;
    else if (f == "--port" && ParseInt(v, 1, 65535, &n)) o->port = static_cast<int>(n);
    else if (f == "--ctx" && ParseInt(v, 2, int64_t{1} << 40, &n)) o->engine.context = n;
    else if (f == "--parallel" && ParseInt(v, 1, 4096, &n)) o->engine.parallel = static_cast<int>(n);
    else if (f == "--queue" && ParseInt(v, 0, 1 << 20, &n)) o->engine.queue_limit = static_cast<int>(n);
    else if (f == "--pool" && ParseInt(v, 0, 4096, &n)) o->engine.pool_size = static_cast<int>(n);
    else if (f == "--threads" && ParseInt(v, 1, 4096, &n)) SetDefaultThreads(static_cast<int>(n));
    else if (f == "--prefill-chunk" && ParseInt(v, 1, 1 << 20, &n)) {
      o->engine.prefill_chunk = static_cast<int>(n);
    } else {
      std::fprintf(stderr, "dsv4 serve: bad flag or value: %s %s\n", f.c_str(), v.c_str());
      return false;
    }
  }
  return !model_dir->empty();
}

int RunServe(const std::vector<std::string>& args) {
  std::string model_dir;
  ServerOptions o;
  if (!ParseFlags(args, &model_dir, &o)) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  auto model = Model::Load(model_dir, /*progress=*/true);
  if (!model.ok()) {
    std::fprintf(stderr, "dsv4 serve: %s\n", model.status().ToString().c_str());
    return 1;
  }
  auto tok = Tokenizer::Load(model_dir);
  if (!tok.ok()) {
    std::fprintf(stderr, "dsv4 serve: %s (the server needs the checkpoint's tokenizer.json)\n",
                 tok.status().ToString().c_str());
    return 1;
  }
  const Status s = Serve(**model, **tok, o);
  if (!s.ok()) {
    std::fprintf(stderr, "dsv4 serve: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}

const CommandRegistrar kRegistrar{"serve", "OpenAI- and Anthropic-compatible HTTP server",
                                  &RunServe};

}  // namespace
}  // namespace dsv4
