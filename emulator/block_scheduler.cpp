// The block scheduler's BlockRun: the threads of one block as cooperative fibers on the calling host thread,
// so __syncthreads, warp shuffles and votes keep CUDA's semantics and every run is deterministic. A "runner"
// fiber executes threads 0, 1, 2, ... one after another and only hands over when its thread waits (at a
// barrier, a warp op, a cluster or grid barrier, an mbarrier); then a new runner continues with the next
// thread. A kernel without barriers therefore costs two context switches per block, one with barriers one
// fiber per thread. Which blocks run together, and the waits between blocks, are in block_group.cpp; the
// fibers themselves in fiber.cpp.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "block_run.hpp"

#if defined(LOGREG_EMU_ASAN)
#include <sanitizer/common_interface_defs.h>
#endif

uint3 threadIdx;
uint3 blockIdx;
dim3 blockDim;
dim3 gridDim;

namespace cuda_emu::detail {
namespace {

thread_local BlockRun* tls_block = nullptr;
thread_local void* tls_dynamic_shared = nullptr;

std::string hex(unsigned v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", v);
  return buf;
}

// PTX shfl.sync: lanes are grouped in segments of `width`; a source outside the allowed range gives the
// lane its own value.
int shuffle_source(WarpOp op, int lane, int param, int width) {
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

}  // namespace

BlockRun* current_block() { return tls_block; }

BlockRun& current_or_abort(const char* what) {
  BlockRun* b = current_block();
  if (b == nullptr) {
    std::fprintf(stderr, "cuda emulator: %s called outside a kernel\n", what);
    std::abort();
  }
  return *b;
}

BlockRun::BlockRun(const KernelLaunch& launch, dim3 index, void* dynamic_shared, BlockGroup& group)
    : launch_(launch), group_(group), index_(index), dynamic_shared_(static_cast<unsigned char*>(dynamic_shared)) {
  threads_ = static_cast<int>(launch.block.x * launch.block.y * launch.block.z);
  warps_.resize(static_cast<std::size_t>((threads_ + 31) / 32));
  fiber_of_thread_.assign(static_cast<std::size_t>(threads_), -1);
  exited_.assign(static_cast<std::size_t>(threads_), false);
  // At most one fiber per thread; never reallocated, since a saved context must not move.
  fibers_.reserve(static_cast<std::size_t>(threads_));
}

BlockRun::~BlockRun() {
#if defined(LOGREG_EMU_ASAN) && defined(LOGREG_EMU_OWN_SWITCH)
  for (Fiber& f : fibers_) {
    char* sp = static_cast<char*>(f.context.sp);
    if (f.stack->used_from == nullptr || sp < f.stack->used_from) f.stack->used_from = sp;
  }
#endif
}

bool BlockRun::step() {
  tls_block = this;
  blockIdx = uint3{index_.x, index_.y, index_.z};
  tls_dynamic_shared = dynamic_shared_;
  bool ran = false;
  for (std::size_t f = 0; f < fibers_.size() && group_.fault.empty(); ++f) {
    if (fibers_[f].state != FiberState::kRunnable) continue;
    switch_to_fiber(static_cast<int>(f));
    ran = true;
  }
  if (!ran && group_.fault.empty() && next_thread_ < threads_) {
    start_runner();
    ran = true;
  }
  tls_block = nullptr;
  return ran;
}

bool BlockRun::release_active_mask_waiters() {
  bool released = false;
  for (Fiber& f : fibers_) {
    if (f.state != FiberState::kAtActiveMask) continue;
    f.state = FiberState::kRunnable;
    released = true;
  }
  return released;
}

void BlockRun::release(FiberState state, const void* on) {
  for (Fiber& f : fibers_) {
    if (f.state == state && (on == nullptr || f.waiting_on == on)) f.state = FiberState::kRunnable;
  }
}

int BlockRun::waiting_in(FiberState state) const {
  int n = 0;
  for (const Fiber& f : fibers_) n += f.state == state ? 1 : 0;
  return n;
}

// ---- Called on a fiber ----
void BlockRun::barrier() {
  ++at_barrier_;
  if (at_barrier_ == threads_) {  // the last thread arrives: release everyone, go on without yielding
    at_barrier_ = 0;
    release(FiberState::kAtBarrier);
    return;
  }
  fibers_[static_cast<std::size_t>(current_)].state = FiberState::kAtBarrier;
  yield();
}

bool BlockRun::wait(FiberState state, const void* on) {
  Fiber& me = fibers_[static_cast<std::size_t>(current_)];
  me.state = state;
  me.waiting_on = on;
  yield();
  return group_.fault.empty();
}

std::uint64_t BlockRun::warp_exchange(WarpOp op, unsigned mask, std::uint64_t value, int param, int width) {
  const int tid = current_thread();
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
unsigned BlockRun::active_mask() {
  fibers_[static_cast<std::size_t>(current_)].state = FiberState::kAtActiveMask;
  yield();
  const int warp = current_thread() / 32;
  unsigned mask = 0;
  for (int l = 0; l < 32; ++l) {
    const int t = warp * 32 + l;
    if (t < threads_ && !exited_[static_cast<std::size_t>(t)]) mask |= 1u << l;
  }
  return mask;
}

void BlockRun::fail(const std::string& what) {
  if (group_.fault.empty()) group_.fault = what;
  throw KernelAbort{};  // unwinds the thread's frames to runner_entry; the scheduler stops at the first fault
}

unsigned BlockRun::existing_lanes(int warp) const {
  const int n = threads_ - warp * 32;
  return n >= 32 ? 0xffffffffu : ((1u << n) - 1u);
}

bool BlockRun::complete_warp_op(Warp& w, int warp, unsigned mask, int slot) {
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
  return true;
}

std::string BlockRun::describe_deadlock() const {
  std::ostringstream os;
  const int in_warp_op = waiting_in(FiberState::kInWarpOp);
  if (at_barrier_ > 0) {
    os << "__syncthreads() reached by " << at_barrier_ << " of " << threads_ << " threads";
    if (exited_count_ > 0) os << "; " << exited_count_ << " thread(s) exited without reaching it (the first: thread "
                              << first_exited_ << ")";
    if (in_warp_op > 0) os << "; " << in_warp_op << " thread(s) wait in a warp op";
    os << ": a barrier every thread of the block must reach (deadlock on a GPU)";
    return os.str();
  }
  if (in_warp_op > 0) {
    os << in_warp_op << " thread(s) wait in a warp-synchronous op (__shfl_sync, __ballot_sync, __syncwarp, ...) "
       << "whose mask names lanes that never join it";
    if (exited_count_ > 0) os << " (" << exited_count_ << " thread(s) exited, the first: thread " << first_exited_ << ")";
    return os.str();
  }
  const struct {
    FiberState state;
    const char* what;
  } waits[] = {{FiberState::kAtClusterBarrier, "at the cluster barrier (cluster.sync() or barrier_wait())"},
               {FiberState::kAtGridBarrier, "at grid.sync()"},
               {FiberState::kAtMbarrier, "in an mbarrier wait whose phase never completes"}};
  const char* sep = "";
  for (const auto& w : waits) {
    const int n = waiting_in(w.state);
    if (n == 0) continue;
    os << sep << n << " thread(s) wait " << w.what;
    sep = ", ";
  }
  os << sep << exited_count_ << " of " << threads_ << " thread(s) exited";
  return os.str();
}

void BlockRun::set_builtins(int tid) const {
  const unsigned bx = launch_.block.x;
  const unsigned by = launch_.block.y;
  const unsigned t = static_cast<unsigned>(tid);
  threadIdx = uint3{t % bx, (t / bx) % by, t / (bx * by)};
}

void BlockRun::switch_to_fiber(int f) {
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
void BlockRun::yield() {
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

void BlockRun::start_runner() {
  const std::size_t index = fibers_.size();
  fibers_.emplace_back();
  Fiber& f = fibers_.back();
  f.stack = group_.take_stack();
  f.thread = next_thread_;
  f.context.start(*f.stack, &BlockRun::runner_entry);
  switch_to_fiber(static_cast<int>(index));
}

void BlockRun::runner_entry() {
  BlockRun* self = tls_block;
#if defined(LOGREG_EMU_ASAN)
  __sanitizer_finish_switch_fiber(nullptr, &self->scheduler_stack_bottom_, &self->scheduler_stack_size_);
#endif
  const int index = self->current_;
  Fiber* fiber = &self->fibers_[static_cast<std::size_t>(index)];
  while (self->next_thread_ < self->threads_ && self->group_.fault.empty()) {
    const int tid = self->next_thread_++;
    fiber->thread = tid;
    self->fiber_of_thread_[static_cast<std::size_t>(tid)] = index;
    self->set_builtins(tid);
    try {
      self->launch_.thread_body();
    } catch (const KernelAbort&) {
      break;
    }
    if (!self->async_copies.empty()) land_thread_copies(self->async_copies[static_cast<std::size_t>(tid)]);
    self->exited_[static_cast<std::size_t>(tid)] = true;
    if (self->exited_count_++ == 0) self->first_exited_ = tid;
    if (self->finished()) self->group_.block_finished(*self);
  }
  self->fibers_[static_cast<std::size_t>(index)].state = FiberState::kDone;
  self->yield();
  std::abort();  // a finished fiber is never switched to again
}

}  // namespace cuda_emu::detail

namespace cuda_emu {

namespace {
detail::BlockRun& block_or_abort(const char* what) {
  detail::BlockRun* b = detail::tls_block;
  if (b == nullptr) {
    std::fprintf(stderr, "cuda emulator: %s called outside a kernel\n", what);
    std::abort();
  }
  return *b;
}
}  // namespace

void block_barrier() { block_or_abort("__syncthreads()").barrier(); }

std::uint64_t warp_exchange(WarpOp op, unsigned mask, std::uint64_t value, int param, int width) {
  return block_or_abort("a warp intrinsic").warp_exchange(op, mask, value, param, width);
}

unsigned active_mask() { return detail::tls_block == nullptr ? 0u : detail::tls_block->active_mask(); }

void* dynamic_shared_memory() { return detail::tls_dynamic_shared; }

}  // namespace cuda_emu
