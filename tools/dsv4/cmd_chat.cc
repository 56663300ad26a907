// dsv4 chat --model DIR [-n N] [--temp T] [--seed S] [--think] [--system TEXT] [--ctx N] ...
// Interactive multi-turn chat on stdin/stdout, one user message per line (so it also runs from a
// script). The Sequence is kept between turns: when the official encoding of the conversation
// extends the text already processed (prompt + the reply as generated), only the new suffix is
// prefilled; otherwise (e.g. thinking mode drops earlier reasoning) the turn is prefilled afresh.
// Commands: /reset, /think (toggle thinking mode), /stats, /help, /quit.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "command.h"
#include "text_session.h"

namespace dsv4 {
namespace {

using ojson = nlohmann::ordered_json;

constexpr char kCommands[] = "/reset /think /stats /help /quit";

struct ChatStats {
  int turns = 0, full_prefills = 0;
  int64_t prefilled = 0, reused = 0, generated = 0, decode_steps = 0;
  double prefill_s = 0, decode_s = 0;
};

class ChatSession {
 public:
  ChatSession(TextSession& session, GenerationFlags flags)
      : s_(session), flags_(std::move(flags)), seq_(*session.model) {
    ClearMessages();
  }

  // Handles one input line; false on /quit.
  bool Line(const std::string& line);

 private:
  void ClearMessages() {
    messages_ = ojson::array();
    if (!flags_.system.empty()) messages_.push_back({{"role", "system"}, {"content", flags_.system}});
  }
  void ResetSequence() {
    seq_.Reset();
    processed_text_.clear();
    pending_.clear();
  }
  void PrintStats() const;
  void Turn(const std::string& user);

  TextSession& s_;
  GenerationFlags flags_;
  Sequence seq_;
  ojson messages_;
  ChatStats stats_;
  std::string processed_text_;    // prompt + completion text of everything in seq_ and pending_
  std::vector<int32_t> pending_;  // generated but not yet in seq_ (the last token of a reply)
};

bool ChatSession::Line(const std::string& line) {
  if (line == "/quit" || line == "/exit") return false;
  if (line == "/reset") {
    ResetSequence();
    ClearMessages();
    std::fprintf(stderr, "[conversation reset]\n");
  } else if (line == "/think") {
    flags_.think = !flags_.think;
    std::fprintf(stderr, "[thinking mode %s]\n", flags_.think ? "on" : "off");
  } else if (line == "/stats") {
    PrintStats();
  } else if (line == "/help") {
    std::fprintf(stderr, "[commands: %s; anything else is your next message]\n", kCommands);
  } else if (line.empty()) {
    // Nothing to say.
  } else if (const size_t bad = FindInvalidUtf8(line); bad != std::string::npos) {
    std::fprintf(stderr, "[input is not valid UTF-8 (byte offset %zu); ignored]\n", bad);
  } else if (line[0] == '/') {
    std::fprintf(stderr, "[unknown command %s] (commands: %s)\n", line.c_str(), kCommands);
  } else {
    Turn(line);
  }
  return true;
}

void ChatSession::PrintStats() const {
  const ChatStats& t = stats_;
  std::fprintf(stderr,
               "[turns %d, context %lld tokens, prefilled %lld, reused %lld, full prefills %d, "
               "generated %lld, prefill %.1f tok/s, decode %.1f tok/s]\n",
               t.turns, static_cast<long long>(seq_.length()), static_cast<long long>(t.prefilled),
               static_cast<long long>(t.reused), t.full_prefills,
               static_cast<long long>(t.generated), t.prefill_s > 0 ? t.prefilled / t.prefill_s : 0,
               t.decode_s > 0 ? t.decode_steps / t.decode_s : 0);
}

void ChatSession::Turn(const std::string& user) {
  ojson next = messages_;
  next.push_back({{"role", "user"}, {"content", user}});
  auto text = EncodeConversation(next, flags_.think);
  if (!text.ok()) {
    std::fprintf(stderr, "[error: %s]\n", text.status().message().c_str());
    return;
  }
  // Reuse the sequence when the new prompt text extends everything processed so far (the reply's
  // own tokens are kept as generated); otherwise start over.
  const bool extends = !processed_text_.empty() && text->size() > processed_text_.size() &&
                       text->compare(0, processed_text_.size(), processed_text_) == 0;
  if (!extends) {
    if (!processed_text_.empty()) ++stats_.full_prefills;
    ResetSequence();
  }
  auto tail = s_.tokenizer->Encode(std::string_view(*text).substr(processed_text_.size()));
  if (!tail.ok()) {
    std::fprintf(stderr, "[error: %s]\n", tail.status().message().c_str());
    return;
  }
  std::vector<int32_t> suffix = pending_;
  suffix.insert(suffix.end(), tail->begin(), tail->end());
  const int64_t reused = seq_.length();
  const ThinkingMode mode = flags_.think ? ThinkingMode::kThinking : ThinkingMode::kChat;
  auto r = GenerateAndStream(s_, seq_, suffix, s_.Options(flags_), /*chat_mode=*/true, mode);
  if (!r.ok()) {
    std::fprintf(stderr, "[error: %s]\n", r.status().message().c_str());
    ResetSequence();  // a failed turn may have left a partial prefill: start clean next time
    return;
  }
  processed_text_ = *text + s_.tokenizer->Decode(r->gen.tokens);
  pending_.assign(r->gen.tokens.end() - 1, r->gen.tokens.end());
  ++stats_.turns;
  stats_.reused += reused;
  stats_.prefilled += r->gen.prompt_tokens;
  stats_.generated += r->gen.generated();
  stats_.decode_steps += r->gen.decode_steps;
  stats_.prefill_s += r->gen.prefill_s;
  stats_.decode_s += r->gen.decode_s;
  auto parsed = ParseCompletion(r->completion, mode);
  ojson reply = {{"role", "assistant"},
                 {"content", parsed.ok() ? parsed->content : r->gen.text}};
  if (parsed.ok() && flags_.think) reply["reasoning_content"] = parsed->reasoning_content;
  next.push_back(reply);
  messages_ = std::move(next);
}

void Usage() {
  std::fprintf(stderr, "usage: dsv4 chat --model DIR [flags]; then one message per line on stdin\n"
                       "commands: %s\n%s", kCommands, kGenerationFlagsHelp);
}

int RunChat(const std::vector<std::string>& args) {
  GenerationFlags flags;
  flags.n = 256;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string error;
    const FlagParse p = ParseGenerationFlag(args, &i, &flags, &error);
    if (p == FlagParse::kOk) continue;
    if (args[i] == "--help" || args[i] == "-h") {
      Usage();
      return 0;
    }
    std::fprintf(stderr, "dsv4 chat: %s\n",
                 p == FlagParse::kError ? error.c_str() : ("unknown flag " + args[i]).c_str());
    Usage();
    return 2;
  }
  if (flags.model.empty()) {
    std::fprintf(stderr, "dsv4 chat: --model DIR is required\n");
    Usage();
    return 2;
  }
  auto session = TextSession::Open(flags.model);
  if (!session.ok()) {
    std::fprintf(stderr, "dsv4 chat: %s\n", session.status().ToString().c_str());
    return 1;
  }
  if (session->random_weights) {
    std::fprintf(stderr, "[dsv4] note: %s has random weights (dsv4 make-model): replies are noise\n",
                 flags.model.c_str());
  }
  ChatSession chat(*session, flags);
  std::fprintf(stderr, "dsv4 chat: one message per line; %s\n", kCommands);
  std::string line;
  while (std::fprintf(stderr, "> "), std::getline(std::cin, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();  // CRLF scripts
    if (!chat.Line(line)) break;
  }
  return 0;
}

const CommandRegistrar kRegistrar{"chat",
                                  "interactive multi-turn chat (keeps the sequence between turns)",
                                  &RunChat};

}  // namespace
}  // namespace dsv4
