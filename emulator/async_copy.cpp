// Asynchronous copies and mbarriers on the emulator. A copy's destination reads as poison (NaN floats, 0xAB
// bytes) from its issue until it lands, and it lands only where CUDA says the data is there: cp.async
// (__pipeline_memcpy_async) at the thread's __pipeline_wait_prior that covers its commit group (or at the
// thread's exit); cp.async.bulk (cuda::ptx::cp_async_bulk) when a thread waits on its mbarrier and every
// expected arrival is in, its bytes then completing the barrier's transactions. A kernel that reads the data
// before that wait reads poison. The source is read when the copy lands. mbarriers (init, arrive, arrive
// with expect-tx, expect-tx, wait with phase parity) keep their state by address in the running group of
// blocks (a static __shared__ barrier by the address of its block's own copy: BlockGroup::stable), so a
// barrier in a peer block's shared memory works too, arrived on remotely through a map_shared_rank address;
// an arrive on the barrier of a block that has exited is reported. Not here: the fibers and their waits
// (block_scheduler.cpp), tensor-map (TMA tiled) copies, multicast, cp.reduce.async.bulk.
#include <cstdint>
#include <cstring>
#include <string>

#include "block_run.hpp"

namespace cuda_emu::detail {
namespace {

void land(const AsyncCopy& c) { std::memmove(c.dst, c.src, c.bytes); }

ThreadCopies& thread_copies(BlockRun& me) {
  if (me.async_copies.empty()) me.async_copies.resize(static_cast<std::size_t>(me.threads()));
  return me.async_copies[static_cast<std::size_t>(me.current_thread())];
}

Mbarrier* find_mbarrier(BlockRun& me, const void* bar, const char* what) {
  auto it = me.group().mbarriers.find(me.group().stable(bar));
  if (it != me.group().mbarriers.end()) return &it->second;
  me.fail(std::string(what) + " on the mbarrier at " + pointer_text(bar) + ", which mbarrier_init has not initialised");
  return nullptr;
}

// The phase completes once every arrival and every transaction byte is in; its waiters go on.
void complete_if_done(BlockRun& me, const void* bar, Mbarrier& m) {
  if (m.pending != 0 || m.tx != 0) return;
  ++m.phase;
  m.pending = m.expected;
  if (m.waiters == 0) return;
  m.waiters = 0;
  const void* key = me.group().stable(bar);
  for (BlockRun* b : me.group().blocks()) b->release(FiberState::kAtMbarrier, key);
}

// The bulk copies on `m` land (at a wait, once no arrival is missing) and complete their transactions. Their
// destinations are stable addresses (BlockGroup::stable): the block they belong to may not be the running one.
void land_bulk_copies(const BlockGroup& group, Mbarrier& m) {
  for (const AsyncCopy& c : m.copies) {
    std::memmove(group.current(c.dst), c.src, c.bytes);
    m.tx -= static_cast<long long>(c.bytes);
  }
  m.copies.clear();
}

std::string block_of(const BlockRun& b) {
  return "block (" + std::to_string(b.index().x) + "," + std::to_string(b.index().y) + "," +
         std::to_string(b.index().z) + ") rank " + std::to_string(b.rank);
}

}  // namespace

void poison(void* dst, std::size_t bytes) {
  auto* p = static_cast<unsigned char*>(dst);
  for (std::size_t i = 0; i < bytes; ++i) {
    p[i] = (reinterpret_cast<std::uintptr_t>(p + i) & 3u) == 3u ? 0xFF : 0xAB;
  }
}

void land_thread_copies(ThreadCopies& t) {
  for (const AsyncCopy& c : t.copies) land(c);
  t.copies.clear();
}

}  // namespace cuda_emu::detail

namespace cuda_emu {

using detail::AsyncCopy;
using detail::BlockRun;
using detail::Mbarrier;

void async_copy(void* dst, const void* src, std::size_t bytes) {
  BlockRun& me = detail::current_or_abort("__pipeline_memcpy_async");
  if (bytes != 4 && bytes != 8 && bytes != 16) {
    me.fail("__pipeline_memcpy_async of " + std::to_string(bytes) + " bytes (cp.async copies 4, 8 or 16)");
    return;
  }
  if ((reinterpret_cast<std::uintptr_t>(dst) | reinterpret_cast<std::uintptr_t>(src)) % bytes != 0) {
    me.fail("__pipeline_memcpy_async(" + detail::pointer_text(dst) + ", " + detail::pointer_text(src) + ", " +
            std::to_string(bytes) + "): addresses not aligned to the copy's size");
    return;
  }
  detail::ThreadCopies& t = detail::thread_copies(me);
  detail::poison(dst, bytes);
  t.copies.push_back(AsyncCopy{dst, src, bytes, t.committed});
}

void async_commit() {
  BlockRun& me = detail::current_or_abort("__pipeline_commit");
  ++detail::thread_copies(me).committed;
}

void async_wait_prior(std::size_t newer) {
  BlockRun& me = detail::current_or_abort("__pipeline_wait_prior");
  if (me.async_copies.empty()) return;
  detail::ThreadCopies& t = detail::thread_copies(me);
  // Committed groups older than the `newer` most recent ones land; uncommitted copies stay in flight.
  const unsigned done_below = t.committed >= newer ? t.committed - static_cast<unsigned>(newer) : 0u;
  std::size_t kept = 0;
  for (const AsyncCopy& c : t.copies) {
    if (c.batch < done_below) {
      detail::land(c);
    } else {
      t.copies[kept++] = c;
    }
  }
  t.copies.resize(kept);
}

void mbarrier_init(std::uint64_t* bar, unsigned count) {
  BlockRun& me = detail::current_or_abort("mbarrier_init");
  if (count == 0 || count >= (1u << 20)) {
    me.fail("mbarrier_init with count " + std::to_string(count) + " (1 to 2^20 - 1)");
    return;
  }
  *bar = 0;
  Mbarrier& m = me.group().mbarriers[me.group().stable(bar)];
  m = Mbarrier{};
  m.expected = count;
  m.pending = count;
}

std::uint64_t mbarrier_arrive(std::uint64_t* bar, unsigned count, unsigned tx) {
  BlockRun& me = detail::current_or_abort("mbarrier_arrive");
  const BlockRun* owner = me.group().owner_of(bar);
  if (owner != nullptr && owner != &me && owner->finished()) {
    me.fail("mbarrier_arrive on the mbarrier at " + detail::pointer_text(bar) + " in the shared memory of " +
            detail::block_of(*owner) + ", which has exited (a remote arrive on an ended block: keep the cluster "
            "together with cluster.sync() until no peer arrives on a block's barriers)");
    return 0;
  }
  Mbarrier* m = detail::find_mbarrier(me, bar, "mbarrier_arrive");
  if (m == nullptr) return 0;
  const std::uint64_t state = m->phase;
  if (count > m->pending) {
    me.fail("mbarrier_arrive of " + std::to_string(count) + " on the mbarrier at " + detail::pointer_text(bar) +
            ", which waits for " + std::to_string(m->pending) + " more arrival(s) in this phase");
    return 0;
  }
  m->tx += tx;
  m->pending -= count;
  // Waiters already there: the copies land now, so that the phase can complete.
  if (m->pending == 0 && m->waiters > 0) detail::land_bulk_copies(me.group(), *m);
  detail::complete_if_done(me, bar, *m);
  return state;
}

void mbarrier_arrive_cluster(std::uint64_t* bar, unsigned count, unsigned tx) {
  BlockRun& me = detail::current_or_abort("mbarrier_arrive (.shared::cluster)");
  const BlockRun* owner = me.group().owner_of(bar);
  if (owner == nullptr || owner->cluster != me.cluster) {
    me.fail("mbarrier_arrive(.shared::cluster) on " + detail::pointer_text(bar) +
            ", which is not shared memory of a block of this cluster (map a peer's barrier with "
            "cluster.map_shared_rank)");
    return;
  }
  (void)mbarrier_arrive(bar, count, tx);
}

void mbarrier_expect_tx(std::uint64_t* bar, unsigned tx) {
  BlockRun& me = detail::current_or_abort("mbarrier_expect_tx");
  Mbarrier* m = detail::find_mbarrier(me, bar, "mbarrier_expect_tx");
  if (m != nullptr) m->tx += tx;
}

bool mbarrier_wait_parity(std::uint64_t* bar, unsigned parity) {
  BlockRun& me = detail::current_or_abort("mbarrier_try_wait_parity");
  Mbarrier* m = detail::find_mbarrier(me, bar, "mbarrier_try_wait_parity");
  if (m == nullptr) return false;
  if ((m->phase & 1u) != (parity & 1u)) return true;  // the phase of that parity has completed
  if (m->pending == 0) {
    detail::land_bulk_copies(me.group(), *m);
    detail::complete_if_done(me, bar, *m);
    if ((m->phase & 1u) != (parity & 1u)) return true;
  }
  ++m->waiters;
  return me.wait(detail::FiberState::kAtMbarrier, me.group().stable(bar));
}

void bulk_copy(void* dst, const void* src, unsigned bytes, std::uint64_t* bar) {
  BlockRun& me = detail::current_or_abort("cp_async_bulk");
  if (bytes % 16 != 0 || (reinterpret_cast<std::uintptr_t>(dst) | reinterpret_cast<std::uintptr_t>(src)) % 16 != 0) {
    me.fail("cp_async_bulk(" + detail::pointer_text(dst) + ", " + detail::pointer_text(src) + ", " + std::to_string(bytes) +
            "): the size and both addresses must be multiples of 16");
    return;
  }
  Mbarrier* m = detail::find_mbarrier(me, bar, "cp_async_bulk");
  if (m == nullptr) return;
  detail::poison(dst, bytes);
  m->copies.push_back(AsyncCopy{me.group().stable(dst), src, bytes, 0});
}

}  // namespace cuda_emu
