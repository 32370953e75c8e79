// Prometheus text exposition for kata-monitor: families built from our own
// figures, and the guest's text (untrusted) merged in only after parsing.
//
// The format wants every sample of a family in one group, under one HELP
// and TYPE: with many sandboxes each family is filled from all of them and
// written once.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace kata::monitor {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Exposition {
 public:
  // Declares a family (first declaration wins) and adds one sample, named
  // name + suffix (a histogram's _bucket, _sum, _count).
  void Add(const std::string& name, const std::string& type, const std::string& help, const Labels& labels, double value,
           const std::string& suffix = "");
  // Merges a guest's GetMetrics text with `sandbox_id` added to every
  // sample. Only gauge/counter/untyped families named kata_guest_*,
  // kata_container_* or kata_agent_* are taken, samples must parse, must
  // not carry their own sandbox_id, and at most `max_samples` are taken:
  // a guest can neither forge host figures nor another sandbox's, nor
  // flood the output. Returns the number of lines dropped.
  size_t MergeGuest(const std::string& text, const std::string& sandbox_id, size_t max_samples = 5000);
  std::string Text() const;

 private:
  struct Family {
    std::string type, help;
    std::vector<std::string> samples;
  };
  Family& Declare(const std::string& name, const std::string& type, const std::string& help);
  std::vector<std::string> order_;
  std::map<std::string, Family> families_;
};

// A sample line: name{labels} value, with the labels in the text format's
// escaping. Public for tests.
std::string FormatSample(const std::string& name, const Labels& labels, double value);
// Parses one sample line; false when it is not one.
bool ParseSample(const std::string& line, std::string* name, Labels* labels, double* value);

}  // namespace kata::monitor
