// Shared by `dsv4 run` and `dsv4 chat`: their common flags, a loaded model + tokenizer, prompt
// building with the official chat encoding, and streaming of generated tokens as text.
//
// Streaming layout (docs/cli.md): the answer goes to stdout; reasoning (thinking mode) goes to
// stderr between "[thinking]" and "[/thinking]"; a tool call is printed on stdout as
// "[tool call NAME] {arguments}". So `dsv4 run ... > answer.txt` captures the answer alone.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "chat/completion_parser.h"
#include "model/model.h"
#include "runtime/generate.h"
#include "runtime/sequence.h"
#include "tokenizer/tokenizer.h"

namespace dsv4 {

// Flags common to run and chat.
struct GenerationFlags {
  std::string model, system;
  int n = 128;         // -n: new tokens per answer
  int chunk = 512;     // --chunk: prefill chunk
  int64_t ctx = 0;     // --ctx: context limit; 0 = config max_position_embeddings
  bool think = false;  // --think / --no-think
  SamplingParams sampling{.temperature = 0.6f};  // the reference generate.py's temperature
  std::vector<std::string> stop;                 // --stop (repeatable)
};

enum class FlagParse { kNotMine, kOk, kError };

// Consumes args[*i] (and its value) when it is a common flag, advancing *i past the value.
// kError: a missing or malformed value, described in *error.
FlagParse ParseGenerationFlag(const std::vector<std::string>& args, size_t* i,
                              GenerationFlags* flags, std::string* error);

// Usage text of the common flags, for the commands' --help.
extern const char kGenerationFlagsHelp[];

struct TextSession {
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;
  bool random_weights = false;  // dsv4_model_card.json (written by make-model) says so

  // NotFound for a missing directory or a missing tokenizer.json; the loaders' errors otherwise.
  static Result<TextSession> Open(const std::string& dir);

  int64_t ContextLimit(int64_t ctx_flag) const;
  GenerateOptions Options(const GenerationFlags& flags) const;
};

// The official encoding of a conversation ending with the assistant's turn to speak.
Result<std::string> EncodeConversation(const nlohmann::ordered_json& messages, bool think);

struct StreamResult {
  GenerateResult gen;
  std::string completion;  // what the model wrote, stop-token text included (for the parser)
};

// Generates from `prompt_ids` on `seq`, streaming text. chat_mode: split reasoning / content /
// tool calls with the official streaming completion parser; otherwise print the text as is.
Result<StreamResult> GenerateAndStream(TextSession& s, Sequence& seq,
                                       const std::vector<int32_t>& prompt_ids,
                                       const GenerateOptions& options, bool chat_mode,
                                       ThinkingMode mode);

// "[dsv4] prompt N tokens in T s (R tok/s), generated ..." on stderr.
void PrintSpeed(const GenerateResult& r);

}  // namespace dsv4
