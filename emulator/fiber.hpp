// Fibers for the block scheduler (internal to emulator/): an mmap'd stack with a guard page, a saved
// context, and the switch between two contexts. On x86-64 Linux the switch is a few instructions of our
// own (fiber.cpp): glibc's swapcontext makes a sigprocmask system call per switch, and under ASan its
// interceptor clears the shadow of the whole target stack. Elsewhere the fibers use ucontext. No scheduling.
#pragma once

#include <ucontext.h>

#include <cstddef>

#if defined(__SANITIZE_ADDRESS__)
#define LOGREG_EMU_ASAN 1
#endif
#if defined(__x86_64__) && defined(__linux__)
#define LOGREG_EMU_OWN_SWITCH 1
#endif

namespace cuda_emu::detail {

// An mmap'd fiber stack with a guard page below it: an overflow faults instead of corrupting memory.
class FiberStack {
 public:
  FiberStack();
  ~FiberStack();
  FiberStack(const FiberStack&) = delete;
  FiberStack& operator=(const FiberStack&) = delete;
  char* base() const { return base_; }
  std::size_t bytes() const;

  // The lowest address a finished or abandoned fiber left frames at: under ASan, their redzones stay
  // poisoned until the next fiber on this stack starts (FiberContext::start clears them).
  char* used_from = nullptr;

 private:
  char* mapping_ = nullptr;
  char* base_ = nullptr;
  std::size_t mapping_bytes_ = 0;
};

// Where a fiber (or the scheduler) stopped; switch_context saves the current one and resumes another.
struct FiberContext {
#if defined(LOGREG_EMU_OWN_SWITCH)
  void* sp = nullptr;
#else
  ucontext_t uc{};
#endif
  // The context of a fiber that starts by calling entry() on `stack` (entry never returns).
  void start(FiberStack& stack, void (*entry)());
};

void switch_context(FiberContext* save, FiberContext* load);

}  // namespace cuda_emu::detail
