// The block scheduler: runs the threads of one block as cooperative fibers on the calling host
// thread, so __syncthreads, warp shuffles and votes keep CUDA's semantics and every run is deterministic.
// A "runner" fiber executes threads 0, 1, 2, ... one after another and only hands over when its thread
// waits (at a barrier or a warp op); then a new runner continues with the next thread. A kernel without
// barriers therefore costs two context switches per block, one with barriers one fiber per thread.
// Deadlocks (a barrier not every thread reaches, a warp op a lane never joins) are reported, never hung on.
// On x86-64 Linux a fiber switch is a few instructions of our own (below): glibc's swapcontext makes a
// sigprocmask system call per switch, and under ASan its interceptor clears the shadow of the whole target
// stack, which made a sanitized kernel with barriers spend most of its time in the kernel. Elsewhere the
// fibers use ucontext.
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define LOGREG_EMU_ASAN 1
#endif

#include "emulator_internal.hpp"

uint3 threadIdx;
uint3 blockIdx;
dim3 blockDim;
dim3 gridDim;

#if defined(__x86_64__) && defined(__linux__)
#define LOGREG_EMU_OWN_SWITCH 1
// logreg_emu_switch(save_sp, load_sp): pushes the callee-saved registers (System V: rbx, rbp, r12-r15) and
// the SSE and x87 control words on the current stack, stores the stack pointer in *save_sp, loads load_sp
// and pops the same from there. A new fiber's stack is laid out by FiberContext::start to look like that.
extern "C" void logreg_emu_switch(void** save_sp, void* load_sp);
asm(R"(
  .text
  .globl logreg_emu_switch
  .type logreg_emu_switch, @function
logreg_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $16, %rsp
  stmxcsr 8(%rsp)
  fnstcw 12(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr 8(%rsp)
  fldcw 12(%rsp)
  addq $16, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size logreg_emu_switch, .-logreg_emu_switch
)");
#endif

namespace cuda_emu::detail {
namespace {

#if defined(LOGREG_EMU_ASAN)
constexpr std::size_t kStackBytes = std::size_t{1} << 20;  // ASan's redzones make frames larger
#else
constexpr std::size_t kStackBytes = std::size_t{256} << 10;
#endif

// An mmap'd fiber stack with a guard page below it: an overflow faults instead of corrupting memory.
class FiberStack {
 public:
  FiberStack() {
    const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    mapping_bytes_ = kStackBytes + page;
    void* m = mmap(nullptr, mapping_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) {
      std::perror("cuda emulator: mmap of a fiber stack");
      std::abort();
    }
    mprotect(m, page, PROT_NONE);
    mapping_ = static_cast<char*>(m);
    base_ = mapping_ + page;
  }
  ~FiberStack() { munmap(mapping_, mapping_bytes_); }
  FiberStack(const FiberStack&) = delete;
  FiberStack& operator=(const FiberStack&) = delete;
  char* base() const { return base_; }
  std::size_t bytes() const { return kStackBytes; }

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

  // The context of a fiber that starts by calling entry() on `stack` (entry never returns).
  void start(FiberStack& stack, void (*entry)()) {
#if defined(LOGREG_EMU_ASAN)
    if (stack.used_from != nullptr) {
      __asan_unpoison_memory_region(stack.used_from, static_cast<std::size_t>(stack.base() + stack.bytes() - stack.used_from));
      stack.used_from = nullptr;
    }
#endif
    auto top = reinterpret_cast<std::uintptr_t>(stack.base() + stack.bytes()) & ~std::uintptr_t{15};
    auto* slot = reinterpret_cast<std::uint64_t*>(top - 16);  // 16-byte aligned: entry's "return address"
    slot[1] = 0;                                               // where entry would return to: nowhere
    slot[0] = reinterpret_cast<std::uintptr_t>(entry);
    for (int r = 1; r <= 6; ++r) slot[-r] = 0;                 // rbp, rbx, r12-r15
    auto* control = reinterpret_cast<std::uint32_t*>(slot - 8);
    control[2] = 0x1F80;                                       // MXCSR at power-on: all exceptions masked
    control[3] = 0x037F;                                       // x87 control word at power-on
    sp = slot - 8;
  }
#else
  ucontext_t uc{};

  void start(FiberStack& stack, void (*entry)()) {
    getcontext(&uc);
    uc.uc_stack.ss_sp = stack.base();
    uc.uc_stack.ss_size = stack.bytes();
    uc.uc_link = nullptr;
    makecontext(&uc, entry, 0);
  }
#endif
};

void switch_context(FiberContext* save, FiberContext* load) {
#if defined(LOGREG_EMU_OWN_SWITCH)
  logreg_emu_switch(&save->sp, load->sp);
#else
  swapcontext(&save->uc, &load->uc);
#endif
}

enum class FiberState { kRunnable, kAtBarrier, kInWarpOp, kAtActiveMask, kDone };

struct Fiber {
  FiberContext context;
  FiberStack* stack = nullptr;
  FiberState state = FiberState::kRunnable;
  int thread = -1;  // the block thread on this fiber now
};

// One warp's exchange area. Lanes deposit their value and parameter; the lane that completes the mask
// computes every lane's result into results[generation & 1] and wakes the others.
struct Warp {
  unsigned arrived = 0;
  unsigned generation = 0;
  std::uint64_t values[32] = {};
  int params[32] = {};
  int widths[32] = {};
  WarpOp ops[32] = {};
  std::uint64_t results[2][32] = {};
  int result_slot[32] = {};  // which results[] a waiting lane reads
};

class BlockRun;
thread_local BlockRun* tls_block = nullptr;
thread_local void* tls_dynamic_shared = nullptr;
thread_local std::vector<std::unique_ptr<FiberStack>> tls_stacks;  // reused across blocks and launches

class BlockRun {
 public:
  BlockRun(const KernelLaunch& launch, dim3 block_index) : launch_(launch) {
    threads_ = static_cast<int>(launch.block.x * launch.block.y * launch.block.z);
    warps_.resize(static_cast<std::size_t>((threads_ + 31) / 32));
    fiber_of_thread_.assign(static_cast<std::size_t>(threads_), -1);
    exited_.assign(static_cast<std::size_t>(threads_), false);
    // At most one fiber per thread; never reallocated, since a saved context must not move.
    fibers_.reserve(static_cast<std::size_t>(threads_));
    block_index_ = block_index;
  }

#if defined(LOGREG_EMU_ASAN) && defined(LOGREG_EMU_OWN_SWITCH)
  ~BlockRun() {
    for (Fiber& f : fibers_) {
      char* sp = static_cast<char*>(f.context.sp);
      if (f.stack->used_from == nullptr || sp < f.stack->used_from) f.stack->used_from = sp;
    }
  }
#endif
  BlockRun(const BlockRun&) = delete;
  BlockRun& operator=(const BlockRun&) = delete;

  // Runs the block to completion; "" or the fault.
  std::string run() {
    BlockRun* outer = tls_block;
    tls_block = this;
    while (fault_.empty()) {
      bool ran = false;
      for (std::size_t f = 0; f < fibers_.size() && fault_.empty(); ++f) {
        if (fibers_[f].state != FiberState::kRunnable) continue;
        switch_to_fiber(static_cast<int>(f));
        ran = true;
      }
      if (ran || !fault_.empty()) continue;
      if (next_thread_ < threads_) {
        start_runner();
        continue;
      }
      if (exited_count_ == threads_) break;
      if (release_active_mask_waiters()) continue;
      fault_ = describe_deadlock();
    }
    tls_block = outer;
    return fault_;
  }

  // ---- Called on a fiber ----
  void barrier() {
    Fiber& me = fibers_[static_cast<std::size_t>(current_)];
    ++at_barrier_;
    if (at_barrier_ == threads_) {  // the last thread arrives: release everyone, go on without yielding
      at_barrier_ = 0;
      for (Fiber& f : fibers_) {
        if (f.state == FiberState::kAtBarrier) f.state = FiberState::kRunnable;
      }
      return;
    }
    me.state = FiberState::kAtBarrier;
    yield();
  }

  std::uint64_t warp_exchange(WarpOp op, unsigned mask, std::uint64_t value, int param, int width) {
    const int tid = fibers_[static_cast<std::size_t>(current_)].thread;
    const int lane = tid % 32;
    Warp& w = warps_[static_cast<std::size_t>(tid / 32)];
    mask &= existing_lanes(tid / 32);
    if (((mask >> lane) & 1u) == 0) {
      fail("warp op called by lane " + std::to_string(lane) + " of warp " + std::to_string(tid / 32) +
           " with a mask (0x" + hex(mask) + ") that does not include the calling lane");
      return 0;
    }
    if (width < 1 || width > 32 || (width & (width - 1)) != 0) {
      fail("warp op with width " + std::to_string(width) + " (must be a power of 2 from 1 to 32)");
      return 0;
    }
    w.values[lane] = value;
    w.params[lane] = param;
    w.widths[lane] = width;
    w.ops[lane] = op;
    w.arrived |= 1u << lane;
    const int slot = static_cast<int>(w.generation & 1u);
    if ((w.arrived & mask) == mask) {
      complete_warp_op(w, tid / 32, mask, slot);
      return w.results[slot][lane];
    }
    w.result_slot[lane] = slot;
    fibers_[static_cast<std::size_t>(current_)].state = FiberState::kInWarpOp;
    yield();
    return w.results[w.result_slot[lane]][lane];
  }

  // __activemask is a scheduling point: the calling thread waits until every other thread of the block has
  // run as far as it can (to a wait or its exit), so lanes that exit before converging are not counted.
  unsigned active_mask() {
    fibers_[static_cast<std::size_t>(current_)].state = FiberState::kAtActiveMask;
    yield();
    const int tid = fibers_[static_cast<std::size_t>(current_)].thread;
    const int warp = tid / 32;
    unsigned mask = 0;
    for (int l = 0; l < 32; ++l) {
      const int t = warp * 32 + l;
      if (t < threads_ && !exited_[static_cast<std::size_t>(t)]) mask |= 1u << l;
    }
    return mask;
  }

 private:
  static std::string hex(unsigned v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%08x", v);
    return buf;
  }

  bool release_active_mask_waiters() {
    bool released = false;
    for (Fiber& f : fibers_) {
      if (f.state != FiberState::kAtActiveMask) continue;
      f.state = FiberState::kRunnable;
      released = true;
    }
    return released;
  }

  unsigned existing_lanes(int warp) const {
    const int n = threads_ - warp * 32;
    return n >= 32 ? 0xffffffffu : ((1u << n) - 1u);
  }

  void fail(const std::string& what) {
    if (fault_.empty()) fault_ = what;
    yield();  // never resumed: the scheduler stops at the first fault
  }

  // PTX shfl.sync: lanes are grouped in segments of `width`; a source outside the allowed range gives the
  // lane its own value.
  static int shuffle_source(WarpOp op, int lane, int param, int width) {
    const int min_lane = lane & ~(width - 1);
    const int max_lane = min_lane + width - 1;
    int j = lane;
    bool valid = true;
    switch (op) {
      case WarpOp::kShflUp:
        j = lane - param;
        valid = j >= min_lane;
        break;
      case WarpOp::kShflDown:
        j = lane + param;
        valid = j <= max_lane;
        break;
      case WarpOp::kShflXor:
        j = lane ^ (param & 31);
        valid = j <= max_lane;
        break;
      case WarpOp::kShflIdx:
        j = min_lane | (param & (width - 1));
        break;
      default:
        break;
    }
    return valid ? j : lane;
  }

  void complete_warp_op(Warp& w, int warp, unsigned mask, int slot) {
    std::uint64_t ballot = 0;
    for (int l = 0; l < 32; ++l) {
      if (((mask >> l) & 1u) != 0 && w.values[l] != 0) ballot |= std::uint64_t{1} << l;
    }
    for (int l = 0; l < 32; ++l) {
      if (((mask >> l) & 1u) == 0) continue;
      std::uint64_t r = 0;
      switch (w.ops[l]) {
        case WarpOp::kSync:
          break;
        case WarpOp::kBallot:
          r = ballot;
          break;
        case WarpOp::kAny:
          r = ballot != 0;
          break;
        case WarpOp::kAll:
          r = ballot == mask;
          break;
        default:
          r = w.values[shuffle_source(w.ops[l], l, w.params[l], w.widths[l])];
          break;
      }
      w.results[slot][l] = r;
      const int fiber = fiber_of_thread_[static_cast<std::size_t>(warp * 32 + l)];
      if (fiber >= 0 && fibers_[static_cast<std::size_t>(fiber)].state == FiberState::kInWarpOp &&
          fibers_[static_cast<std::size_t>(fiber)].thread == warp * 32 + l) {
        fibers_[static_cast<std::size_t>(fiber)].state = FiberState::kRunnable;
      }
    }
    w.arrived &= ~mask;
    ++w.generation;
  }

  std::string describe_deadlock() const {
    std::ostringstream os;
    int in_warp_op = 0;
    for (const Fiber& f : fibers_) in_warp_op += f.state == FiberState::kInWarpOp ? 1 : 0;
    if (at_barrier_ > 0) {
      os << "__syncthreads() reached by " << at_barrier_ << " of " << threads_ << " threads";
      if (exited_count_ > 0) os << "; " << exited_count_ << " thread(s) exited without reaching it (the first: thread "
                                << first_exited_ << ")";
      if (in_warp_op > 0) os << "; " << in_warp_op << " thread(s) wait in a warp op";
      os << ": a barrier every thread of the block must reach (deadlock on a GPU)";
    } else {
      os << in_warp_op << " thread(s) wait in a warp-synchronous op (__shfl_sync, __ballot_sync, __syncwarp, ...) "
         << "whose mask names lanes that never join it";
      if (exited_count_ > 0) os << " (" << exited_count_ << " thread(s) exited, the first: thread " << first_exited_ << ")";
    }
    return os.str();
  }

  void set_builtins(int tid) const {
    const unsigned bx = launch_.block.x;
    const unsigned by = launch_.block.y;
    const unsigned t = static_cast<unsigned>(tid);
    threadIdx = uint3{t % bx, (t / bx) % by, t / (bx * by)};
  }

  void switch_to_fiber(int f) {
    current_ = f;
    Fiber& fiber = fibers_[static_cast<std::size_t>(f)];
    set_builtins(fiber.thread);
#if defined(LOGREG_EMU_ASAN)
    void* fake_stack = nullptr;
    __sanitizer_start_switch_fiber(&fake_stack, fiber.stack->base(), fiber.stack->bytes());
#endif
    switch_context(&scheduler_, &fiber.context);
#if defined(LOGREG_EMU_ASAN)
    __sanitizer_finish_switch_fiber(fake_stack, nullptr, nullptr);
#endif
    current_ = -1;
  }

  // From a fiber back to the scheduler (the fiber resumes here when it is switched to again).
  void yield() {
    Fiber& fiber = fibers_[static_cast<std::size_t>(current_)];
#if defined(LOGREG_EMU_ASAN)
    void* fake_stack = nullptr;
    __sanitizer_start_switch_fiber(fiber.state == FiberState::kDone ? nullptr : &fake_stack, scheduler_stack_bottom_,
                                   scheduler_stack_size_);
#endif
    switch_context(&fiber.context, &scheduler_);
#if defined(LOGREG_EMU_ASAN)
    __sanitizer_finish_switch_fiber(fake_stack, &scheduler_stack_bottom_, &scheduler_stack_size_);
#endif
  }

  void start_runner() {
    const std::size_t index = fibers_.size();
    while (tls_stacks.size() <= index) tls_stacks.push_back(std::make_unique<FiberStack>());
    fibers_.emplace_back();
    Fiber& f = fibers_.back();
    f.stack = tls_stacks[index].get();
    f.thread = next_thread_;
    f.context.start(*f.stack, &BlockRun::runner_entry);
    switch_to_fiber(static_cast<int>(index));
  }

  static void runner_entry() {
    BlockRun* self = tls_block;
#if defined(LOGREG_EMU_ASAN)
    __sanitizer_finish_switch_fiber(nullptr, &self->scheduler_stack_bottom_, &self->scheduler_stack_size_);
#endif
    const int index = self->current_;
    Fiber* fiber = &self->fibers_[static_cast<std::size_t>(index)];
    while (self->next_thread_ < self->threads_ && self->fault_.empty()) {
      const int tid = self->next_thread_++;
      fiber->thread = tid;
      self->fiber_of_thread_[static_cast<std::size_t>(tid)] = index;
      self->set_builtins(tid);
      self->launch_.thread_body();
      self->exited_[static_cast<std::size_t>(tid)] = true;
      if (self->exited_count_++ == 0) self->first_exited_ = tid;
    }
    self->fibers_[static_cast<std::size_t>(index)].state = FiberState::kDone;
    self->yield();
    std::abort();  // a finished fiber is never switched to again
  }

  const KernelLaunch& launch_;
  dim3 block_index_;
  int threads_ = 0;
  int next_thread_ = 0;
  int exited_count_ = 0;
  int first_exited_ = -1;
  int at_barrier_ = 0;
  int current_ = -1;
  std::vector<Fiber> fibers_;
  std::vector<int> fiber_of_thread_;
  std::vector<bool> exited_;
  std::vector<Warp> warps_;
  FiberContext scheduler_;
  const void* scheduler_stack_bottom_ = nullptr;
  std::size_t scheduler_stack_size_ = 0;
  std::string fault_;
};

}  // namespace

std::string run_blocks(const KernelLaunch& launch, void* dynamic_shared) {
  gridDim = launch.grid;
  blockDim = launch.block;
  tls_dynamic_shared = dynamic_shared;
  for (unsigned z = 0; z < launch.grid.z; ++z) {
    for (unsigned y = 0; y < launch.grid.y; ++y) {
      for (unsigned x = 0; x < launch.grid.x; ++x) {
        blockIdx = uint3{x, y, z};
        BlockRun block(launch, dim3(x, y, z));
        std::string fault = block.run();
        if (!fault.empty()) {
          std::ostringstream os;
          os << "block (" << x << "," << y << "," << z << "): " << fault;
          tls_dynamic_shared = nullptr;
          return os.str();
        }
      }
    }
  }
  tls_dynamic_shared = nullptr;
  return "";
}

}  // namespace cuda_emu::detail

namespace cuda_emu {

void block_barrier() {
  if (detail::tls_block == nullptr) {
    std::fprintf(stderr, "cuda emulator: __syncthreads() called outside a kernel\n");
    std::abort();
  }
  detail::tls_block->barrier();
}

std::uint64_t warp_exchange(WarpOp op, unsigned mask, std::uint64_t value, int param, int width) {
  if (detail::tls_block == nullptr) {
    std::fprintf(stderr, "cuda emulator: a warp intrinsic called outside a kernel\n");
    std::abort();
  }
  return detail::tls_block->warp_exchange(op, mask, value, param, width);
}

unsigned active_mask() { return detail::tls_block == nullptr ? 0u : detail::tls_block->active_mask(); }

void* dynamic_shared_memory() { return detail::tls_dynamic_shared; }

}  // namespace cuda_emu
