// kata-monitor: one daemon per host serving, as upstream Kata's does,
//   /metrics             Prometheus text: every running sandbox's host and
//                        guest figures, and the monitor's own
//   /sandboxes           the running sandboxes' ids, one per line
//   /agent-log?sandbox=  that sandbox's guest console (the agent logs there)
// on --listen-address (default :8090). HTTP is cpp-httplib (Debian's).
#include <httplib.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <mutex>

#include "common/fs.h"
#include "common/log.h"
#include "monitor/sandbox_figures.h"

namespace kata::monitor {
namespace {

constexpr size_t kMaxLogBytes = 1 << 20;  // the tail of a console log served

class MonitorServer {
 public:
  explicit MonitorServer(ScrapeOptions opts) : opts_(std::move(opts)) {}

  void Route(httplib::Server& http) {
    http.Get("/metrics", [this](const httplib::Request& q, httplib::Response& r) { ServeMetrics(q, r); });
    http.Get("/sandboxes", [this](const httplib::Request& q, httplib::Response& r) { ServeSandboxes(q, r); });
    http.Get("/agent-log", [this](const httplib::Request& q, httplib::Response& r) { ServeAgentLog(q, r); });
  }

 private:
  void ServeMetrics(const httplib::Request&, httplib::Response& res) {
    // One scrape at a time: concurrent scrapers would only multiply the
    // work (sandbox endpoints cache for a second anyway).
    std::lock_guard<std::mutex> lock(mu_);
    auto t0 = std::chrono::steady_clock::now();
    Exposition e;
    ScrapeResult r = AddSandboxFigures(opts_, &e);
    scrapes_++;
    guest_errors_ += r.guest_errors;
    guest_dropped_ += r.guest_dropped;
    double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    e.Add("kata_monitor_running_sandboxes", "gauge", "Sandboxes kata-monitor found running.", {}, static_cast<double>(r.sandboxes));
    e.Add("kata_monitor_scrapes_total", "counter", "Scrapes of /metrics served.", {}, static_cast<double>(scrapes_));
    e.Add("kata_monitor_scrape_duration_seconds", "gauge", "Time this scrape took to collect.", {}, took);
    e.Add("kata_monitor_guest_errors_total", "counter", "Sandboxes whose guest figures could not be fetched.", {},
          static_cast<double>(guest_errors_));
    e.Add("kata_monitor_guest_lines_dropped_total", "counter", "Guest metric lines refused (malformed, or not the guest's to report).",
          {}, static_cast<double>(guest_dropped_));
    res.set_content(e.Text(), "text/plain; version=0.0.4; charset=utf-8");
  }

  void ServeSandboxes(const httplib::Request&, httplib::Response& res) {
    std::string body;
    for (const std::string& id : RunningSandboxes(opts_.vm_root)) body += id + "\n";
    res.set_content(body, "text/plain; charset=utf-8");
  }

  void ServeAgentLog(const httplib::Request& req, httplib::Response& res) {
    std::string id = req.get_param_value("sandbox");
    std::vector<std::string> running = RunningSandboxes(opts_.vm_root);
    // Only a running sandbox's id names a directory: nothing else is read.
    if (std::find(running.begin(), running.end(), id) == running.end()) {
      res.status = 404;
      res.set_content("no running sandbox \"" + id.substr(0, 100) + "\" (see /sandboxes)\n", "text/plain");
      return;
    }
    auto log = fs::ReadFile(fs::JoinPath(fs::JoinPath(opts_.vm_root, id), "console.log"));
    std::string text = log.ok() ? *log : "";
    if (text.size() > kMaxLogBytes) text = text.substr(text.size() - kMaxLogBytes);
    res.set_content(text, "text/plain; charset=utf-8");
  }

  ScrapeOptions opts_;
  std::mutex mu_;
  uint64_t scrapes_ = 0, guest_errors_ = 0, guest_dropped_ = 0;
};

// ":8090" -> ("0.0.0.0", 8090); "127.0.0.1:9000"; "[::1]:9000".
bool SplitAddress(const std::string& addr, std::string* host, int* port) {
  size_t colon = addr.rfind(':');
  if (colon == std::string::npos) return false;
  *host = addr.substr(0, colon);
  if (host->empty()) *host = "0.0.0.0";
  if (host->size() > 2 && host->front() == '[' && host->back() == ']') *host = host->substr(1, host->size() - 2);
  try {
    *port = std::stoi(addr.substr(colon + 1));
  } catch (...) {
    return false;
  }
  return *port > 0 && *port < 65536;
}

}  // namespace
}  // namespace kata::monitor

int main(int argc, char** argv) {
  CLI::App app{"kata-monitor: Prometheus metrics of the host's Kata sandboxes"};
  std::string listen = ":8090", log_level = "info";
  kata::monitor::ScrapeOptions opts;
  app.add_option("--listen-address", listen, "address:port to serve on");
  app.add_option("--log-level", log_level, "debug, info, warn or error");
  app.add_option("--vm-root", opts.vm_root, "where sandboxes keep their VM directories");
  // Upstream's Go flags take one dash too (-listen-address :8090).
  std::vector<std::string> args;
  for (int i = argc - 1; i > 0; i--) {
    std::string a = argv[i];
    if (a.size() > 2 && a[0] == '-' && a[1] != '-') a = "-" + a;
    args.push_back(a);
  }
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  kata::log::Configure(2, log_level == "debug" ? kata::log::Level::kDebug : kata::log::Level::kInfo, kata::log::Format::kText);
  std::string host;
  int port = 0;
  if (!kata::monitor::SplitAddress(listen, &host, &port)) {
    kata::log::Error("--listen-address \"" + listen + "\" is not [host]:port (e.g. :8090 or 127.0.0.1:8090)");
    return 2;
  }
  httplib::Server http;
  kata::monitor::MonitorServer server(opts);
  server.Route(http);
  kata::log::Info("kata-monitor serving http://" + listen + "/metrics");
  if (!http.listen(host, port)) {
    kata::log::Error("cannot listen on " + listen + " (in use, or not an address of this host)");
    return 1;
  }
  return 0;
}
