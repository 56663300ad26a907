// Loading ../shared/encoding fixtures for the chat tests.
#pragma once

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace dsv4::testing {

inline std::string EncodingDir() { return std::string(DSV4_SHARED_DIR) + "/encoding"; }

inline std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// generated/cases.jsonl, one ordered_json per line.
inline std::vector<nlohmann::ordered_json> GeneratedCases() {
  std::vector<nlohmann::ordered_json> cases;
  std::istringstream lines(ReadText(EncodingDir() + "/generated/cases.jsonl"));
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) cases.push_back(nlohmann::ordered_json::parse(line));
  }
  return cases;
}

// cases.json: the official fixtures with their encode kwargs and parse checks.
inline nlohmann::ordered_json OfficialCases() {
  return nlohmann::ordered_json::parse(ReadText(EncodingDir() + "/cases.json"));
}

// The encode request of an official fixture (messages_from rule of cases.json).
inline nlohmann::ordered_json OfficialRequest(const nlohmann::ordered_json& c) {
  nlohmann::ordered_json input = nlohmann::ordered_json::parse(
      ReadText(EncodingDir() + "/official/" + c["input_file"].get<std::string>()));
  nlohmann::ordered_json messages;
  if (input.is_object()) {
    messages = input["messages"];
    messages[0]["tools"] = input["tools"];
  } else {
    messages = input;
  }
  nlohmann::ordered_json request = c["kwargs"];
  request["messages"] = messages;
  return request;
}

}  // namespace dsv4::testing
