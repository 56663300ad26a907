// dsv4 tokenize / dsv4 detokenize: the checkpoint's tokenizer from the command line.
//   dsv4 tokenize   --tokenizer PATH (--text S | --jsonl IN --out OUT)   {"text":...} →
//   {"ids":[...]} dsv4 detokenize --tokenizer PATH (--ids "[1,2]" | --jsonl IN --out OUT)
//   {"ids":[...]} → {"text":...}
// Special-token strings are recognised; no BOS is added.
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "command.h"
#include "tokenizer/tokenizer.h"

namespace dsv4 {
namespace {

using json = nlohmann::json;

struct Args {
  std::string tokenizer, text, ids, jsonl, out;
  bool has_text = false;
};

bool Parse(const std::vector<std::string>& args, Args* a) {
  for (size_t i = 0; i + 1 < args.size(); i += 2) {
    const std::string& f = args[i];
    if (f == "--tokenizer")
      a->tokenizer = args[i + 1];
    else if (f == "--text")
      a->text = args[i + 1], a->has_text = true;
    else if (f == "--ids")
      a->ids = args[i + 1];
    else if (f == "--jsonl")
      a->jsonl = args[i + 1];
    else if (f == "--out")
      a->out = args[i + 1];
    else
      return false;
  }
  return args.size() % 2 == 0 && !a->tokenizer.empty();
}

// Runs `line_fn` on every line of a.jsonl, writing its result lines to a.out.
int MapLines(const Args& a, const char* cmd, Result<json> (*line_fn)(const Tokenizer&, const json&),
             const Tokenizer& tok) {
  std::ifstream in(a.jsonl);
  if (!in) {
    std::fprintf(stderr, "dsv4 %s: cannot open %s\n", cmd, a.jsonl.c_str());
    return 1;
  }
  std::ofstream out(a.out);
  if (!out) {
    std::fprintf(stderr, "dsv4 %s: cannot write %s\n", cmd, a.out.c_str());
    return 1;
  }
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    json j;
    try {
      j = json::parse(line);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "dsv4 %s: %s line %d: not JSON: %s\n", cmd, a.jsonl.c_str(), n,
                   e.what());
      return 1;
    }
    auto r = line_fn(tok, j);
    if (!r.ok()) {
      std::fprintf(stderr, "dsv4 %s: %s line %d: %s\n", cmd, a.jsonl.c_str(), n,
                   r.status().message().c_str());
      return 1;
    }
    out << r->dump(-1, ' ', false, json::error_handler_t::replace) << '\n';
  }
  if (!out.flush()) {
    std::fprintf(stderr, "dsv4 %s: writing %s failed\n", cmd, a.out.c_str());
    return 1;
  }
  return 0;
}

Result<json> EncodeLine(const Tokenizer& tok, const json& j) {
  if (!j.is_object() || !j.contains("text") || !j["text"].is_string()) {
    return InvalidArgument("expected {\"text\": string}");
  }
  std::string text;
  try {
    text = j["text"].get<std::string>();
  } catch (const std::exception& e) {
    return InvalidArgument(e.what());
  }
  DSV4_ASSIGN_OR_RETURN(auto ids, tok.Encode(text));
  return json{{"ids", ids}};
}

Result<std::vector<int32_t>> CheckIds(const Tokenizer& tok, const json& ids) {
  if (!ids.is_array()) return InvalidArgument("expected an array of token ids");
  std::vector<int32_t> out;
  for (const json& v : ids) {
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= tok.vocab_size()) {
      return InvalidArgument("token id " + v.dump() + " is outside the vocabulary [0, " +
                             std::to_string(tok.vocab_size()) + ")");
    }
    out.push_back(v.get<int32_t>());
  }
  return out;
}

int Run(const std::vector<std::string>& args, bool encode) {
  const char* cmd = encode ? "tokenize" : "detokenize";
  Args a;
  if (!Parse(args, &a) || (a.jsonl.empty() == (encode ? !a.has_text : a.ids.empty())) ||
      (!a.jsonl.empty() && a.out.empty())) {
    std::fprintf(stderr, "usage: dsv4 %s --tokenizer PATH (%s | --jsonl IN --out OUT)\n", cmd,
                 encode ? "--text S" : "--ids \"[1,2,3]\"");
    return 2;
  }
  auto tok = Tokenizer::Load(a.tokenizer);
  if (!tok.ok()) {
    std::fprintf(stderr, "dsv4 %s: %s\n", cmd, tok.status().ToString().c_str());
    return 1;
  }
  if (!a.jsonl.empty()) {
    if (encode) return MapLines(a, cmd, EncodeLine, **tok);
    return MapLines(
        a, cmd,
        [](const Tokenizer& t, const json& j) -> Result<json> {
          DSV4_ASSIGN_OR_RETURN(auto ids, CheckIds(t, j.contains("ids") ? j["ids"] : json()));
          return json{{"text", t.Decode(ids)}};
        },
        **tok);
  }
  if (encode) {
    auto ids = (*tok)->Encode(a.text);
    if (!ids.ok()) {
      std::fprintf(stderr, "dsv4 tokenize: %s\n", ids.status().message().c_str());
      return 1;
    }
    std::printf("%s\n", json(*ids).dump().c_str());
    return 0;
  }
  json parsed;
  try {
    parsed = json::parse(a.ids);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dsv4 detokenize: --ids is not JSON: %s\n", e.what());
    return 1;
  }
  auto ids = CheckIds(**tok, parsed);
  if (!ids.ok()) {
    std::fprintf(stderr, "dsv4 detokenize: %s\n", ids.status().message().c_str());
    return 1;
  }
  const std::string text = (*tok)->Decode(*ids);
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::printf("\n");
  return 0;
}

int RunTokenize(const std::vector<std::string>& args) { return Run(args, true); }
int RunDetokenize(const std::vector<std::string>& args) { return Run(args, false); }

const CommandRegistrar kTokenize{"tokenize", "text -> token ids with the checkpoint's tokenizer",
                                 &RunTokenize};
const CommandRegistrar kDetokenize{"detokenize", "token ids -> text", &RunDetokenize};

}  // namespace
}  // namespace dsv4
