// Shared by the tokenizer tests: the reference tokenizer (../shared/tokenizer) and its cases.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace dsv4::testing {

inline std::string SharedTokenizerDir() { return std::string(DSV4_SHARED_DIR) + "/tokenizer"; }

inline const Tokenizer& ReferenceTokenizer() {
  static const std::unique_ptr<Tokenizer> t = [] {
    auto r = Tokenizer::Load(SharedTokenizerDir());
    if (!r.ok()) {
      ADD_FAILURE() << r.status().ToString();
      std::abort();
    }
    return std::move(r).value();
  }();
  return *t;
}

inline const std::vector<nlohmann::json>& ReferenceCases() {
  static const std::vector<nlohmann::json> cases = [] {
    std::vector<nlohmann::json> out;
    std::ifstream in(SharedTokenizerDir() + "/cases.jsonl");
    std::string line;
    while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line));
    return out;
  }();
  return cases;
}

}  // namespace dsv4::testing
