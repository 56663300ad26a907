// `dsv4 serve`: the HTTP transport (cpp-httplib) of the OpenAI- and Anthropic-compatible API over
// the Engine. docs/server.md lists the endpoints, the batching design and the errors.
#pragma once

#include <cstddef>
#include <string>

#include "base/status.h"
#include "model/model.h"
#include "server/engine.h"
#include "tokenizer/tokenizer.h"

namespace dsv4 {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string model_name = "dsv4";
  std::string api_key;              // empty: no authentication
  size_t max_body_bytes = 8 << 20;  // larger bodies get 413
  EngineOptions engine;
};

// Serves until the process is stopped. Returns an error if the address cannot be bound.
Status Serve(const Model& model, const Tokenizer& tokenizer, const ServerOptions& options);

}  // namespace dsv4
