// bundlefast: the SIGBUS guard around reads of mapped shards (POSIX).
//
// Each guarded read pushes a frame (a sigjmp_buf and the guarded address
// range) into a thread-local slot. The handler jumps back to that frame only
// if the faulting thread has one and the fault address lies in its range (a
// SIGBUS elsewhere, or in another thread, is not ours). Everything else is
// passed to the handler that was installed before ours, so pytest's and
// Python's faulthandler still report real crashes; with no previous handler
// the default action (terminate, core dump) is restored and the signal
// re-raised.
//
// Cheap enough to wrap every copied run: sigsetjmp without the signal mask
// (no syscall), made correct by SA_NODEFER: the handler does not block SIGBUS,
// so jumping out of it leaves the thread's mask as it was.
#include "sigbus_guard.h"

#include <setjmp.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <mutex>

namespace bundlefast {

namespace {
struct Frame {
  sigjmp_buf env;
  uintptr_t begin;
  uintptr_t end;
};

// Plain pointer with constant initialization: reading it in the handler needs
// no lazy construction.
thread_local Frame* tls_frame = nullptr;

struct sigaction g_previous;
std::atomic<bool> g_installed{false};
std::once_flag g_install_once;

void Chain(int sig, siginfo_t* info, void* context) {
  if (g_previous.sa_flags & SA_SIGINFO) {
    g_previous.sa_sigaction(sig, info, context);
    return;
  }
  if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
    g_previous.sa_handler(sig);
    return;
  }
  // Default (or an ignored SIGBUS, which a faulting instruction cannot honour):
  // die the way the kernel would have killed us without a handler.
  struct sigaction dfl = {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(sig, &dfl, nullptr);
  raise(sig);
}

void Handler(int sig, siginfo_t* info, void* context) {
  Frame* frame = tls_frame;
  if (frame != nullptr && info != nullptr) {
    const auto addr = reinterpret_cast<uintptr_t>(info->si_addr);
    if (addr >= frame->begin && addr < frame->end) siglongjmp(frame->env, 1);
  }
  Chain(sig, info, context);
}

std::mutex g_install_mu;

// Installs Handler, chaining to whatever was installed before. Callers hold
// g_install_mu.
void InstallLocked() {
  struct sigaction sa = {};
  sa.sa_sigaction = Handler;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  g_installed.store(sigaction(SIGBUS, &sa, &g_previous) == 0, std::memory_order_release);
}

void Install() {
  std::lock_guard<std::mutex> lock(g_install_mu);
  InstallLocked();
}
}  // namespace

void EnsureSigbusHandler() {
  std::call_once(g_install_once, Install);
  std::lock_guard<std::mutex> lock(g_install_mu);
  struct sigaction current;
  if (sigaction(SIGBUS, nullptr, &current) != 0) return;
  // Put back only over the default action: a handler installed after ours
  // either chains to us (faulthandler does) or is the user's choice.
  if ((current.sa_flags & SA_SIGINFO) == 0 && current.sa_handler == SIG_DFL) InstallLocked();
}

namespace internal {

bool RunGuarded(const void* begin, uint64_t size, void (*fn)(void*), void* arg) {
  std::call_once(g_install_once, Install);
  if (!g_installed.load(std::memory_order_acquire) || tls_frame != nullptr) {
    fn(arg);  // no handler, or nested: the outer guard (if any) covers it
    return true;
  }
  // Widen to whole pages: a load that straddles into a missing page reports
  // that page's first address.
  static const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  Frame frame;
  const auto b = reinterpret_cast<uintptr_t>(begin);
  frame.begin = b - b % page;
  frame.end = (b + static_cast<uintptr_t>(size) + page - 1) / page * page;
  if (sigsetjmp(frame.env, 0) != 0) {
    tls_frame = nullptr;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    return false;
  }
  tls_frame = &frame;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  fn(arg);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  tls_frame = nullptr;
  return true;
}

}  // namespace internal

Status MappedReadFault(const std::string& path, const std::string& what, uint64_t offset, uint64_t size) {
  return Status::IOError(path + ": " + what + " (offset " + std::to_string(offset) + ", " + std::to_string(size) +
                             " bytes) could not be read: the file was truncated after it was opened (SIGBUS)",
                         EIO, path);
}

}  // namespace bundlefast
