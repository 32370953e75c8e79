#include "cli/signals.h"

#include <signal.h>

#include <algorithm>
#include <cctype>
#include <map>

#include "cli/parse.h"

namespace kata::cli {

Result<int> ParseSignal(const std::string& text) {
  static const std::map<std::string, int> kNames = {
      {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"ILL", SIGILL},     {"TRAP", SIGTRAP},
      {"ABRT", SIGABRT}, {"IOT", SIGIOT},   {"BUS", SIGBUS},   {"FPE", SIGFPE},     {"KILL", SIGKILL},
      {"USR1", SIGUSR1}, {"SEGV", SIGSEGV}, {"USR2", SIGUSR2}, {"PIPE", SIGPIPE},   {"ALRM", SIGALRM},
      {"TERM", SIGTERM}, {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD}, {"CONT", SIGCONT}, {"STOP", SIGSTOP},
      {"TSTP", SIGTSTP}, {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU}, {"URG", SIGURG},     {"XCPU", SIGXCPU},
      {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH}, {"IO", SIGIO},
      {"POLL", SIGPOLL}, {"PWR", SIGPWR},   {"SYS", SIGSYS},
  };
  if (!text.empty() && std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c) != 0; })) {
    // Any number of digits may come: parsed with a range check, never stoi.
    auto n = ParseInteger(text, "signal", 1, 64);
    if (!n.ok()) return Error(Code::kInvalidArgument, "invalid signal " + Quote(text) + ": signal numbers are 1 to 64");
    return static_cast<int>(*n);
  }
  std::string up = text;
  std::transform(up.begin(), up.end(), up.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  if (up.rfind("SIG", 0) == 0) up = up.substr(3);
  auto it = kNames.find(up);
  if (it == kNames.end()) {
    return Error(Code::kInvalidArgument, "unknown signal " + Quote(text) + " (try KILL, TERM or 1 to 64)");
  }
  return it->second;
}

}  // namespace kata::cli
