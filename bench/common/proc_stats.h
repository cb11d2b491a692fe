// What /proc says about a process: CPU time, memory and threads, for the
// benchmarks' server-side figures. Linux only.
#ifndef MESHTRUST_BENCH_COMMON_PROC_STATS_H_
#define MESHTRUST_BENCH_COMMON_PROC_STATS_H_

#include <sys/types.h>

#include <cstdint>

#include "absl/status/statusor.h"

namespace meshtrust::bench {

struct ProcSample {
  // utime + stime of every thread, in microseconds (from clock ticks, so
  // 10 ms granularity at the usual 100 Hz: measure over seconds, not calls).
  uint64_t cpu_us = 0;
  uint64_t rss_kb = 0;  // VmRSS: resident now.
  uint64_t hwm_kb = 0;  // VmHWM: the peak resident size so far.
  int threads = 0;      // Threads.
};

// Reads /proc/<pid>/stat and /proc/<pid>/status; kNotFound when the process
// is gone.
absl::StatusOr<ProcSample> SampleProcess(pid_t pid);

}  // namespace meshtrust::bench

#endif  // MESHTRUST_BENCH_COMMON_PROC_STATS_H_
