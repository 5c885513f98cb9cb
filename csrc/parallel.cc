// bundlefast: ParallelFor on short-lived std::threads.
//
// Threads are started per call rather than pooled: the calls this serves
// (verify or copy of a whole checkpoint) take milliseconds to seconds, so a
// ~20 us thread start is noise, and no pool means no state between calls.
#include "parallel.h"

#include <atomic>
#include <cstdlib>
#include <system_error>
#include <thread>
#include <vector>

namespace bundlefast {

void ParallelFor(size_t n, int threads, const std::function<void(size_t)>& fn) {
  if (threads < 1) threads = 1;
  if (static_cast<size_t>(threads) > n) threads = static_cast<int>(n);
  if (threads <= 1) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i = next.fetch_add(1); i < n; i = next.fetch_add(1)) fn(i);
  };
  std::vector<std::thread> pool;
  pool.reserve(static_cast<size_t>(threads - 1));
  for (int t = 1; t < threads; ++t) {
    try {
      pool.emplace_back(worker);
    } catch (const std::system_error&) {
      break;  // out of threads: the ones we have (at least this one) do all the work
    }
  }
  worker();
  for (std::thread& t : pool) t.join();
}

int DefaultThreads() {
  if (const char* env = std::getenv("BUNDLEFAST_NUM_THREADS")) {
    const long v = std::strtol(env, nullptr, 10);
    if (v >= 1 && v <= 1024) return static_cast<int>(v);
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

}  // namespace bundlefast
