#include "runtime/stop.h"

#include <algorithm>

#include "base/check.h"

namespace dsv4 {
namespace {

// Bytes at the end of `s` that begin a UTF-8 character whose continuation bytes have not arrived.
size_t IncompleteUtf8Tail(std::string_view s) {
  constexpr size_t kMaxUtf8Bytes = 4;
  for (size_t back = 1; back <= std::min(s.size(), kMaxUtf8Bytes); ++back) {
    const auto c = static_cast<unsigned char>(s[s.size() - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead byte
    const size_t length = (c & 0xE0) == 0xC0   ? 2
                          : (c & 0xF0) == 0xE0 ? 3
                          : (c & 0xF8) == 0xF0 ? 4
                                               : 1;
    return length > back ? back : 0;
  }
  return 0;  // only continuation bytes (invalid UTF-8): nothing to wait for
}

}  // namespace

const char* StopReasonName(StopReason reason) {
  switch (reason) {
    case StopReason::kNone:
      return "none";
    case StopReason::kStopToken:
      return "stop_token";
    case StopReason::kStopString:
      return "stop_string";
    case StopReason::kMaxTokens:
      return "max_tokens";
  }
  return "unknown";
}

Result<StopChecker> StopChecker::Create(StopParams params) {
  for (size_t i = 0; i < params.stop_strings.size(); ++i) {
    if (params.stop_strings[i].empty()) {
      return InvalidArgument("stop: stop string " + std::to_string(i) +
                             " is empty; remove it or give a non-empty string");
    }
  }
  if (params.max_tokens < 0) {
    return InvalidArgument("stop: max_tokens must be >= 0 (0 = no limit), got " +
                           std::to_string(params.max_tokens));
  }
  return StopChecker(std::move(params));
}

StopUpdate StopChecker::Append(int32_t token, std::string_view text) {
  DSV4_CHECK(!stopped());
  ++tokens_;
  StopUpdate update;
  const auto& ids = params_.stop_token_ids;
  if (std::find(ids.begin(), ids.end(), token) != ids.end()) {
    update.reason = reason_ = StopReason::kStopToken;
    update.stop_token = token;
    update.text = Emit(pending_.size());  // held-back text was not a stop string after all
    return update;
  }
  pending_.append(text);
  // Every earlier occurrence would have stopped an earlier call and held-back text is still in
  // pending_, so the first stop string of the whole output starts inside pending_.
  size_t first = std::string::npos;
  for (const std::string& s : params_.stop_strings) {
    const size_t pos = pending_.find(s);
    if (pos < first) {
      first = pos;
      update.stop_string = s;
    }
  }
  if (first != std::string::npos) {
    update.reason = reason_ = StopReason::kStopString;
    update.text = Emit(first);
    pending_.clear();  // the stop string and anything after it are never emitted
    return update;
  }
  if (params_.max_tokens > 0 && tokens_ >= params_.max_tokens) {
    update.reason = reason_ = StopReason::kMaxTokens;
    update.text = Emit(pending_.size());
    return update;
  }
  const size_t hold = std::max(HeldBackSuffix(), IncompleteUtf8Tail(pending_));
  update.text = Emit(pending_.size() - hold);
  return update;
}

std::string StopChecker::Flush() { return Emit(pending_.size()); }

size_t StopChecker::HeldBackSuffix() const {
  size_t hold = 0;
  const std::string_view pending = pending_;
  for (const std::string& s : params_.stop_strings) {
    // Proper prefixes only: a whole stop string in pending_ has already stopped generation.
    for (size_t n = std::min(s.size() - 1, pending.size()); n > hold; --n) {
      if (pending.substr(pending.size() - n) == std::string_view(s).substr(0, n)) {
        hold = n;
        break;
      }
    }
  }
  return hold;
}

std::string StopChecker::Emit(size_t n) {
  std::string out = pending_.substr(0, n);
  pending_.erase(0, n);
  emitted_bytes_ += n;
  return out;
}

}  // namespace dsv4
