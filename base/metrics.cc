#include "base/metrics.h"

#include <cmath>
#include <cstdio>

namespace meshtrust {
namespace {

std::string EscapeLabelValue(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatLabels(const Labels& labels) {
  if (labels.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) out += ",";
    out += labels[i].first + "=\"" + EscapeLabelValue(labels[i].second) + "\"";
  }
  return out + "}";
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.0f", v);
    return buf;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
}

void Line(std::string& out, const std::string& name, const Labels& labels, double value) {
  out += name + FormatLabels(labels) + " " + FormatValue(value) + "\n";
}

}  // namespace

void CounterFamily::Add(const Labels& labels, double by) {
  absl::MutexLock lock(&mu_);
  values_[labels] += by;
}

void Histogram::Observe(double value) {
  absl::MutexLock lock(&mu_);
  for (size_t i = 0; i < bounds_.size(); ++i) {
    if (value <= bounds_[i]) {
      ++counts_[i];
      break;
    }
  }
  ++count_;
  sum_ += value;
}

CounterFamily* MetricsRegistry::AddCounter(const std::string& name, const std::string& help) {
  auto e = std::make_unique<Entry>();
  e->name = name;
  e->help = help;
  e->type = "counter";
  e->counter = std::make_unique<CounterFamily>();
  CounterFamily* out = e->counter.get();
  absl::MutexLock lock(&mu_);
  entries_.push_back(std::move(e));
  return out;
}

Histogram* MetricsRegistry::AddHistogram(const std::string& name, const std::string& help,
                                         std::vector<double> upper_bounds) {
  auto e = std::make_unique<Entry>();
  e->name = name;
  e->help = help;
  e->type = "histogram";
  e->histogram = std::make_unique<Histogram>(std::move(upper_bounds));
  Histogram* out = e->histogram.get();
  absl::MutexLock lock(&mu_);
  entries_.push_back(std::move(e));
  return out;
}

void MetricsRegistry::AddGauge(const std::string& name, const std::string& help,
                               std::function<std::vector<MetricSample>()> read) {
  AddReader(name, help, "gauge", std::move(read));
}

void MetricsRegistry::AddCounterReader(const std::string& name, const std::string& help,
                                       std::function<std::vector<MetricSample>()> read) {
  AddReader(name, help, "counter", std::move(read));
}

void MetricsRegistry::AddReader(const std::string& name, const std::string& help,
                                const std::string& type,
                                std::function<std::vector<MetricSample>()> read) {
  auto e = std::make_unique<Entry>();
  e->name = name;
  e->help = help;
  e->type = type;
  e->gauge = std::move(read);
  absl::MutexLock lock(&mu_);
  entries_.push_back(std::move(e));
}

std::string MetricsRegistry::Render() const {
  std::vector<const Entry*> entries;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& e : entries_) entries.push_back(e.get());
  }
  std::string out;
  for (const Entry* e : entries) {
    out += "# HELP " + e->name + " " + e->help + "\n";
    out += "# TYPE " + e->name + " " + e->type + "\n";
    if (e->counter != nullptr) {
      absl::MutexLock lock(&e->counter->mu_);
      for (const auto& [labels, value] : e->counter->values_) Line(out, e->name, labels, value);
    } else if (e->histogram != nullptr) {
      const Histogram& h = *e->histogram;
      absl::MutexLock lock(&h.mu_);
      uint64_t cumulative = 0;
      for (size_t i = 0; i < h.bounds_.size(); ++i) {
        cumulative += h.counts_[i];
        Line(out, e->name + "_bucket", {{"le", FormatValue(h.bounds_[i])}},
             static_cast<double>(cumulative));
      }
      Line(out, e->name + "_bucket", {{"le", "+Inf"}}, static_cast<double>(h.count_));
      Line(out, e->name + "_sum", {}, h.sum_);
      Line(out, e->name + "_count", {}, static_cast<double>(h.count_));
    } else {
      for (const MetricSample& s : e->gauge()) Line(out, e->name, s.labels, s.value);
    }
  }
  return out;
}

std::vector<double> LatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
}

}  // namespace meshtrust
