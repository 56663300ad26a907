// Shared by `dsv4 run` and `dsv4 chat`: a loaded model + tokenizer, prompt building with the official
// chat encoding, and streaming of generated tokens as text (reasoning to stderr, answer to stdout).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "chat/completion_parser.h"
#include "model/model.h"
#include "runtime/generate.h"
#include "runtime/sequence.h"
#include "tokenizer/tokenizer.h"

namespace dsv4 {

struct TextSession {
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;
  bool random_weights = false;  // dsv4_model_card.json says so

  static Result<TextSession> Open(const std::string& dir);
};

struct StreamResult {
  GenerateStats stats;
  std::string completion;       // the generated text (incl. the EOS text)
  std::vector<int32_t> tokens;  // the generated ids; the last one is not yet in the sequence
};

// Generates from `prompt_ids` on `seq`, streaming text. chat_mode: parse reasoning / content /
// tool calls with the official completion parser; else print the raw text.
Result<StreamResult> GenerateAndStream(TextSession& s, Sequence& seq,
                                       const std::vector<int32_t>& prompt_ids,
                                       const GenerateOptions& options, int64_t ctx,
                                       bool chat_mode, ThinkingMode mode);

void PrintSpeed(const StreamResult& r);

}  // namespace dsv4
