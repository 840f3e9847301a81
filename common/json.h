// Minimal JSON writing helpers for the hand-rendered hot-path messages.
#pragma once

#include <string>
#include <string_view>

namespace streamrec {

// Appends `text` as a JSON string literal (with quotes, escaped) to `out`.
void AppendJsonString(std::string_view text, std::string* out);

}  // namespace streamrec
