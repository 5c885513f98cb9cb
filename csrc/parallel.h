// bundlefast: the one threading primitive of the core, a blocking parallel-for.
#ifndef BUNDLEFAST_CSRC_PARALLEL_H_
#define BUNDLEFAST_CSRC_PARALLEL_H_

#include <cstddef>
#include <functional>

namespace bundlefast {

// Runs fn(i) for every i in [0, n), on up to `threads` threads including the
// calling one, handing out indices dynamically so uneven work balances. Returns
// when all calls have returned. fn must not throw.
//
// Helpers come from a process-wide pool of sleeping workers (parallel.cc);
// the caller works too and never waits for a helper that has not started,
// so a busy machine slows a call down at worst to one thread's speed.
// Safe to call from several threads at once, and after fork().
void ParallelFor(size_t n, int threads, const std::function<void(size_t)>& fn);

// Threads to use by default: BUNDLEFAST_NUM_THREADS if set (>= 1), else the
// number of hardware threads.
int DefaultThreads();

}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_PARALLEL_H_
