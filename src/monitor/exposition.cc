#include "monitor/exposition.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <sstream>

namespace kata::monitor {
namespace {

bool IsNameStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':'; }
bool IsNameChar(char c) { return IsNameStart(c) || std::isdigit(static_cast<unsigned char>(c)); }

bool ValidName(const std::string& n) {
  if (n.empty() || !IsNameStart(n[0])) return false;
  for (char c : n)
    if (!IsNameChar(c)) return false;
  return true;
}

std::string Escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '"') out += "\\\"";
    else out += c;
  }
  return out;
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  std::ostringstream s;
  s.precision(17);
  s << v;
  return s.str();
}

bool ParseValue(const std::string& text, double* v) {
  if (text == "+Inf" || text == "Inf") *v = INFINITY;
  else if (text == "-Inf") *v = -INFINITY;
  else if (text == "NaN") *v = NAN;
  else {
    if (text.empty()) return false;
    char* end = nullptr;
    *v = std::strtod(text.c_str(), &end);
    if (end != text.c_str() + text.size()) return false;
  }
  return true;
}

// label="value",... up to the closing brace; `i` ends after it.
bool ParseLabels(const std::string& line, size_t* i, Labels* labels) {
  size_t p = *i;
  while (p < line.size() && line[p] != '}') {
    size_t start = p;
    while (p < line.size() && IsNameChar(line[p]) && line[p] != ':') p++;
    std::string key = line.substr(start, p - start);
    if (!ValidName(key) || p + 1 >= line.size() || line[p] != '=' || line[p + 1] != '"') return false;
    p += 2;
    std::string value;
    for (;; p++) {
      if (p >= line.size()) return false;
      char c = line[p];
      if (c == '"') break;
      if (c == '\\') {
        if (++p >= line.size()) return false;
        c = line[p] == 'n' ? '\n' : line[p];
        if (line[p] != 'n' && line[p] != '\\' && line[p] != '"') return false;
      }
      value += c;
    }
    labels->emplace_back(key, value);
    p++;
    if (p < line.size() && line[p] == ',') p++;
  }
  if (p >= line.size()) return false;
  *i = p + 1;
  return true;
}

bool TakenFromGuest(const std::string& name) {
  for (const char* prefix : {"kata_guest_", "kata_container_", "kata_agent_"})
    if (name.rfind(prefix, 0) == 0) return true;
  return false;
}

}  // namespace

std::string FormatSample(const std::string& name, const Labels& labels, double value) {
  std::string l;
  for (const auto& [k, v] : labels) l += (l.empty() ? "" : ",") + k + "=\"" + Escape(v) + "\"";
  return name + (l.empty() ? "" : "{" + l + "}") + " " + FormatValue(value);
}

bool ParseSample(const std::string& line, std::string* name, Labels* labels, double* value) {
  size_t i = 0;
  while (i < line.size() && IsNameChar(line[i])) i++;
  *name = line.substr(0, i);
  if (!ValidName(*name)) return false;
  labels->clear();
  if (i < line.size() && line[i] == '{') {
    i++;
    if (!ParseLabels(line, &i, labels)) return false;
  }
  if (i >= line.size() || line[i] != ' ') return false;
  std::istringstream rest(line.substr(i));
  std::string v, timestamp, extra;
  rest >> v >> timestamp >> extra;
  return extra.empty() && ParseValue(v, value);
}

Exposition::Family& Exposition::Declare(const std::string& name, const std::string& type, const std::string& help) {
  auto [it, added] = families_.try_emplace(name);
  if (added) {
    order_.push_back(name);
    it->second.type = type;
    it->second.help = help;
  }
  return it->second;
}

void Exposition::Add(const std::string& name, const std::string& type, const std::string& help, const Labels& labels,
                     double value, const std::string& suffix) {
  Declare(name, type, help).samples.push_back(FormatSample(name + suffix, labels, value));
}

size_t Exposition::MergeGuest(const std::string& text, const std::string& sandbox_id, size_t max_samples) {
  std::map<std::string, std::string> types, helps;  // as this guest declared them
  size_t dropped = 0, taken = 0;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    if (line[0] == '#') {
      std::istringstream f(line.substr(1));
      std::string kind, name, rest;
      f >> kind >> name;
      std::getline(f, rest);
      if (!rest.empty() && rest[0] == ' ') rest.erase(0, 1);
      if (kind == "TYPE") types[name] = rest;
      if (kind == "HELP") helps[name] = rest;
      continue;
    }
    std::string name;
    Labels labels;
    double value;
    bool ok = ParseSample(line, &name, &labels, &value) && TakenFromGuest(name) && taken < max_samples;
    std::string type = types.count(name) ? types[name] : "untyped";
    ok = ok && (type == "gauge" || type == "counter" || type == "untyped");
    for (const auto& [k, v] : labels) ok = ok && k != "sandbox_id";
    if (!ok) {
      dropped++;
      continue;
    }
    labels.insert(labels.begin(), {"sandbox_id", sandbox_id});
    // A line of its own already: its escapes are the guest's, harmless.
    std::string help = helps.count(name) ? helps[name] : "From the guest.";
    Declare(name, type, help).samples.push_back(FormatSample(name, labels, value));
    taken++;
  }
  return dropped;
}

std::string Exposition::Text() const {
  std::string out;
  for (const std::string& name : order_) {
    const Family& f = families_.at(name);
    if (f.samples.empty()) continue;
    out += "# HELP " + name + " " + f.help + "\n# TYPE " + name + " " + f.type + "\n";
    for (const std::string& s : f.samples) out += s + "\n";
  }
  return out;
}

}  // namespace kata::monitor
