// The fiber primitives of fiber.hpp: the stacks (mmap with a guard page), a new fiber's first context, and
// the context switch (our own on x86-64 Linux, ucontext elsewhere). Which fiber runs when is decided by the
// block scheduler (block_scheduler.cpp), not here.
#include "fiber.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

#if defined(LOGREG_EMU_ASAN)
#include <sanitizer/asan_interface.h>
#endif

#if defined(LOGREG_EMU_OWN_SWITCH)
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

}  // namespace

FiberStack::FiberStack() {
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

FiberStack::~FiberStack() { munmap(mapping_, mapping_bytes_); }

std::size_t FiberStack::bytes() const { return kStackBytes; }

#if defined(LOGREG_EMU_OWN_SWITCH)
void FiberContext::start(FiberStack& stack, void (*entry)()) {
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

void switch_context(FiberContext* save, FiberContext* load) { logreg_emu_switch(&save->sp, load->sp); }
#else
void FiberContext::start(FiberStack& stack, void (*entry)()) {
  getcontext(&uc);
  uc.uc_stack.ss_sp = stack.base();
  uc.uc_stack.ss_size = stack.bytes();
  uc.uc_link = nullptr;
  makecontext(&uc, entry, 0);
}

void switch_context(FiberContext* save, FiberContext* load) { swapcontext(&save->uc, &load->uc); }
#endif

}  // namespace cuda_emu::detail
