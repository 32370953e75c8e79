#include "agent/guest_cpus.h"

#include <fstream>
#include <sstream>

namespace kata::agent {
namespace {

std::string ReadLine(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  return line;
}

// The highest CPU number in a kernel CPU list, or -1.
int LastCpu(const std::string& list) {
  int last = -1;
  std::stringstream in(list);
  for (std::string part; std::getline(in, part, ',');) {
    size_t dash = part.find('-');
    try {
      last = std::max(last, std::stoi(dash == std::string::npos ? part : part.substr(dash + 1)));
    } catch (...) {
    }
  }
  return last;
}

}  // namespace

uint32_t CountCpuList(const std::string& list) {
  uint32_t n = 0;
  std::stringstream in(list);
  for (std::string part; std::getline(in, part, ',');) {
    size_t dash = part.find('-');
    try {
      int a = std::stoi(part), b = dash == std::string::npos ? a : std::stoi(part.substr(dash + 1));
      if (b >= a) n += static_cast<uint32_t>(b - a + 1);
    } catch (...) {
    }
  }
  return n;
}

Result<uint32_t> SetOnlineCpus(uint32_t count, const std::string& sys) {
  int last = LastCpu(ReadLine(sys + "/present"));
  for (int cpu = 1; cpu <= last; cpu++) {
    std::string path = sys + "/cpu" + std::to_string(cpu) + "/online";
    std::string want = static_cast<uint32_t>(cpu) < count ? "1" : "0";
    std::string now = ReadLine(path);
    if (now.empty() || now == want) continue;
    std::ofstream f(path);
    f << want;
    f.close();
    if (!f) return Error(Code::kInternal, "set " + path + " to " + want);
  }
  return CountCpuList(ReadLine(sys + "/online"));
}

}  // namespace kata::agent
