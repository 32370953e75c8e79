// Guards toml++ 3.3.0 from input that reaches its undefined behaviour; see
// toml_guard.h.
#include "config/toml_guard.h"

#include <algorithm>

namespace kata::config {
namespace {

// toml++ descriptions quote the offending text, newline included.
std::string OneLine(const std::string& s) {
  std::string out;
  for (char ch : s) out += ch == '\n' ? std::string("\\n") : std::string(1, ch);
  return out;
}

// toml++ asks whether a character is whitespace only about characters it
// meets outside strings and comments (never valid TOML, but it may scan on
// past a quote in a broken value) and about the one after a backslash in a
// multi-line basic string. CheckNonAscii keeps both away from it.

// The file with each non-ASCII character (and stray UTF-8 byte) replaced by
// '`': just as invalid outside strings and comments, and safe to classify.
std::string AsciiProbe(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  bool in_sequence = false;
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    bool continuation = c >= 0x80 && c < 0xC0;
    if (c < 0x80) out += ch;
    else if (!continuation || !in_sequence) out += '`';
    in_sequence = c >= 0x80;
  }
  return out;
}

// Finds a non-ASCII character after a backslash in a multi-line basic
// string (or, defensively, outside strings and comments). Run on files that
// are valid TOML once masked (AsciiProbe), where this simple lexing of
// strings and comments agrees with toml++'s.
class NonAsciiScan {
 public:
  NonAsciiScan(const std::string& text, const std::string& source) : t_(text), source_(source) {}

  Status Run() {
    for (i_ = 0; i_ < t_.size(); ++i_) {
      unsigned char c = static_cast<unsigned char>(t_[i_]);
      if (c == '\n') {
        NewLine(i_);
        if (in_ == In::kComment || in_ == In::kBasic || in_ == In::kLiteral) in_ = In::kCode;
      } else if (in_ == In::kCode) {
        if (c >= 0x80) return Bad("outside a string or comment");
        if (c == '#') in_ = In::kComment;
        if (c == '"' || c == '\'') OpenString(static_cast<char>(c));
      } else if (in_ == In::kBasic) {
        if (c == '\\' && i_ + 1 < t_.size() && t_[i_ + 1] != '\n') ++i_;  // the escaped character
        else if (c == '"') in_ = In::kCode;
      } else if (in_ == In::kLiteral) {
        if (c == '\'') in_ = In::kCode;
      } else if (in_ == In::kMultiBasic) {
        if (c == '"') CloseMulti('"');
        if (c == '\\' && !SkipAfterBackslash()) return Bad("after a backslash in a multi-line string");
      } else if (in_ == In::kMultiLiteral) {
        if (c == '\'') CloseMulti('\'');
      }
    }
    return Status::Ok();
  }

 private:
  enum class In { kCode, kComment, kBasic, kMultiBasic, kLiteral, kMultiLiteral };

  size_t QuoteRun(size_t at, char q) const {
    size_t n = 0;
    while (at + n < t_.size() && t_[at + n] == q) ++n;
    return n;
  }
  void NewLine(size_t at) {
    ++line_;
    line_start_ = at + 1;
  }
  void OpenString(char q) {
    size_t n = QuoteRun(i_, q);
    if (n == 2) {  // "" or '': empty
      ++i_;
    } else if (n >= 3) {  // only the first three delimit; more are content
      i_ += 2;
      in_ = q == '"' ? In::kMultiBasic : In::kMultiLiteral;
    } else {
      in_ = q == '"' ? In::kBasic : In::kLiteral;
    }
  }
  void CloseMulti(char q) {
    size_t n = QuoteRun(i_, q);
    if (n < 3) return;
    i_ += n - 1;  // up to two quotes before the delimiter are content
    in_ = In::kCode;
  }
  // toml++ classifies what follows a backslash, skipping whitespace and line
  // breaks (a line-ending backslash). False when that is non-ASCII.
  bool SkipAfterBackslash() {
    size_t j = i_ + 1;
    while (j < t_.size() && (t_[j] == ' ' || t_[j] == '\t' || t_[j] == '\r' || t_[j] == '\n')) {
      if (t_[j] == '\n') NewLine(j);
      ++j;
    }
    bool skipped = j > i_ + 1;
    if (j < t_.size() && static_cast<unsigned char>(t_[j]) >= 0x80) {
      i_ = j;  // where the error points
      return false;
    }
    // An escaped character goes with its backslash; after skipped whitespace
    // t_[j] is ordinary content, for the loop to look at.
    i_ = skipped ? j - 1 : j;
    return true;
  }
  Status Bad(const std::string& where) const {
    return Error(Code::kInvalidArgument, source_ + ":" + std::to_string(line_) + ":" +
                                             std::to_string(i_ - line_start_ + 1) + ": non-ASCII character " +
                                             where + " (not supported with toml++ 3.3)");
  }

  const std::string& t_;
  const std::string& source_;
  In in_ = In::kCode;
  size_t i_ = 0, line_ = 1, line_start_ = 0;
};

}  // namespace

// Parse errors as "<file>:<line>:<col>: <what>".
Status TomlParseError(const toml::parse_error& e, const std::string& source, const std::string& note) {
  const auto& b = e.source().begin;
  return Error(Code::kInvalidArgument, source + ":" + std::to_string(b.line) + ":" + std::to_string(b.column) + ": " +
                                           OneLine(std::string(e.description())) + note);
}

// See AsciiProbe: a file that is not valid TOML with its non-ASCII text
// masked never reaches toml++ as it is; in a valid one, strings are where
// NonAsciiScan finds them.
Status CheckNonAscii(const std::string& text, const std::string& source) {
  if (std::all_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; })) {
    return Status::Ok();
  }
  try {
    (void)toml::parse(AsciiProbe(text), source);
  } catch (const toml::parse_error& e) {
    return TomlParseError(e, source, " (non-ASCII characters shown as `)");
  }
  return NonAsciiScan(text, source).Run();
}

}  // namespace kata::config
