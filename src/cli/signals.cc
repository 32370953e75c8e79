#include "cli/signals.h"

#include <signal.h>

#include <algorithm>
#include <cctype>
#include <map>

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
  if (!text.empty() && std::all_of(text.begin(), text.end(), ::isdigit)) {
    int n = std::stoi(text);
    if (n <= 0 || n > 64) return Error(Code::kInvalidArgument, "invalid signal: " + text);
    return n;
  }
  std::string up = text;
  std::transform(up.begin(), up.end(), up.begin(), ::toupper);
  if (up.rfind("SIG", 0) == 0) up = up.substr(3);
  auto it = kNames.find(up);
  if (it == kNames.end()) return Error(Code::kInvalidArgument, "unknown signal \"" + text + "\"");
  return it->second;
}

}  // namespace kata::cli
