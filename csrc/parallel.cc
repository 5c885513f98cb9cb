// bundlefast: ParallelFor on a small pool of long-lived worker threads.
//
// Why a pool: starting a std::thread per call costs ~20-50 us, and joining it
// costs more: the caller must wait until the new thread has been scheduled,
// even when it had nothing left to do. On a busy 2-core machine that wait
// was milliseconds (a 5 KB checkpoint took ~9 ms to verify). Here the caller
// never waits for a helper that has not started: it claims work itself, and
// at the end waits only for items a helper is still running.
//
// Workers are created on first use (up to the most helpers any call asked
// for), sleep on a condition variable between calls, and are never joined:
// the pool is leaked on purpose, so process exit does not have to stop them
// and no static destructor races with them. After fork() the child gets a
// fresh, empty pool (pthread_atfork), since the parent's workers do not exist
// there and its mutex may have been held mid-fork.
#include "parallel.h"

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#define BUNDLEFAST_HAVE_ATFORK 1
#endif

namespace bundlefast {

namespace {

// One ParallelFor call. Helpers hold it by shared_ptr, so a helper that wakes
// after the call returned still finds valid counters (and claims nothing; fn
// is only touched for a claimed index, and the caller waits for those).
struct Job {
  const std::function<void(size_t)>* fn = nullptr;
  size_t n = 0;
  std::atomic<size_t> next{0};  // next index to claim
  std::atomic<size_t> done{0};  // indices whose fn returned
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;  // guarded by mu: done reached n
};

// Runs indices of `job` until none are left to claim.
void Work(Job& job) {
  size_t ran = 0;
  for (size_t i = job.next.fetch_add(1, std::memory_order_relaxed); i < job.n;
       i = job.next.fetch_add(1, std::memory_order_relaxed)) {
    (*job.fn)(i);
    ++ran;
  }
  if (ran > 0 && job.done.fetch_add(ran, std::memory_order_acq_rel) + ran == job.n) {
    std::lock_guard<std::mutex> lock(job.mu);
    job.finished = true;
    job.cv.notify_all();
  }
}

class Pool {
 public:
  // Asks up to `helpers` workers to join `job`, starting workers if needed.
  void Post(const std::shared_ptr<Job>& job, int helpers) {
    int wake = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      while (workers_ < helpers) {
        try {
          std::thread(&Pool::Loop, this).detach();
        } catch (const std::system_error&) {
          break;  // out of threads: fewer helpers (the caller alone, at worst)
        }
        ++workers_;
      }
      wake = helpers < workers_ ? helpers : workers_;
      for (int i = 0; i < wake; ++i) tickets_.push_back(job);
    }
    if (wake == 1) {
      cv_.notify_one();
    } else if (wake > 1) {
      cv_.notify_all();
    }
  }

  // Drops the tickets of `job` no worker picked up (it has no work left).
  void Withdraw(const Job* job) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = tickets_.begin(); it != tickets_.end();) {
      it = it->get() == job ? tickets_.erase(it) : it + 1;
    }
  }

 private:
  void Loop() {
    for (;;) {
      std::shared_ptr<Job> job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return !tickets_.empty(); });
        job = std::move(tickets_.front());
        tickets_.pop_front();
      }
      Work(*job);
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> tickets_;  // guarded by mu_: one per helper asked for
  int workers_ = 0;                           // guarded by mu_
};

std::atomic<Pool*> g_pool{nullptr};

#ifdef BUNDLEFAST_HAVE_ATFORK
// In a forked child the workers are gone: forget the pool (leaking it, as its
// mutex may be locked) and let the next call start a new one.
void ForgetPoolInChild() { g_pool.store(nullptr, std::memory_order_relaxed); }
#endif

Pool& GetPool() {
  Pool* pool = g_pool.load(std::memory_order_acquire);
  if (pool != nullptr) return *pool;
  static std::mutex create_mu;
  std::lock_guard<std::mutex> lock(create_mu);
  pool = g_pool.load(std::memory_order_acquire);
  if (pool == nullptr) {
#ifdef BUNDLEFAST_HAVE_ATFORK
    static const bool registered = pthread_atfork(nullptr, nullptr, &ForgetPoolInChild) == 0;
    (void)registered;
#endif
    pool = new Pool();  // never deleted: see the file comment
    g_pool.store(pool, std::memory_order_release);
  }
  return *pool;
}

}  // namespace

void ParallelFor(size_t n, int threads, const std::function<void(size_t)>& fn) {
  if (threads < 1) threads = 1;
  if (static_cast<size_t>(threads) > n) threads = static_cast<int>(n);
  if (threads <= 1) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  auto job = std::make_shared<Job>();
  job->fn = &fn;
  job->n = n;
  Pool& pool = GetPool();
  pool.Post(job, threads - 1);
  Work(*job);
  if (job->done.load(std::memory_order_acquire) != n) {
    std::unique_lock<std::mutex> lock(job->mu);
    job->cv.wait(lock, [&] { return job->finished; });
  }
  pool.Withdraw(job.get());
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
