// How the emulator reads __cluster_dims__ (included by cuda_emulator.hpp). A kernel declared
// `__global__ void __cluster_dims__(2, 1, 1) k(...)` is placed in the section `logreg_emu_cluster_2_1_1`, one
// section per cluster shape; at launch the runtime finds the kernel's address inside one of them (the linker's
// __start_/__stop_ bounds, runtime.cpp: compiled_cluster_dims) and runs the launch in clusters of that shape.
// The sizes must be integer literals whose product is at most 8 (the portable cluster size): any other
// spelling names an undefined LOGREG_EMU_CLUSTER_* macro and does not compile.
#pragma once

#undef __cluster_dims__
#define __cluster_dims__(...) LOGREG_EMU_CLUSTER_DIMS_(__VA_ARGS__, 1, 1, )
#define LOGREG_EMU_CLUSTER_DIMS_(x, y, z, ...) LOGREG_EMU_CLUSTER_##x##_##y##_##z

// Every shape (x, y, z) with x * y * z <= 8.
#define LOGREG_EMU_CLUSTER_SHAPES(X) \
  X(1, 1, 1) \
  X(2, 1, 1) \
  X(3, 1, 1) \
  X(4, 1, 1) \
  X(5, 1, 1) \
  X(6, 1, 1) \
  X(7, 1, 1) \
  X(8, 1, 1) \
  X(1, 2, 1) \
  X(2, 2, 1) \
  X(3, 2, 1) \
  X(4, 2, 1) \
  X(1, 3, 1) \
  X(2, 3, 1) \
  X(1, 4, 1) \
  X(2, 4, 1) \
  X(1, 5, 1) \
  X(1, 6, 1) \
  X(1, 7, 1) \
  X(1, 8, 1) \
  X(1, 1, 2) \
  X(2, 1, 2) \
  X(3, 1, 2) \
  X(4, 1, 2) \
  X(1, 2, 2) \
  X(2, 2, 2) \
  X(1, 3, 2) \
  X(1, 4, 2) \
  X(1, 1, 3) \
  X(2, 1, 3) \
  X(1, 2, 3) \
  X(1, 1, 4) \
  X(2, 1, 4) \
  X(1, 2, 4) \
  X(1, 1, 5) \
  X(1, 1, 6) \
  X(1, 1, 7) \
  X(1, 1, 8)

// The section of each shape.
#define LOGREG_EMU_CLUSTER_1_1_1 __attribute__((section("logreg_emu_cluster_1_1_1")))
#define LOGREG_EMU_CLUSTER_2_1_1 __attribute__((section("logreg_emu_cluster_2_1_1")))
#define LOGREG_EMU_CLUSTER_3_1_1 __attribute__((section("logreg_emu_cluster_3_1_1")))
#define LOGREG_EMU_CLUSTER_4_1_1 __attribute__((section("logreg_emu_cluster_4_1_1")))
#define LOGREG_EMU_CLUSTER_5_1_1 __attribute__((section("logreg_emu_cluster_5_1_1")))
#define LOGREG_EMU_CLUSTER_6_1_1 __attribute__((section("logreg_emu_cluster_6_1_1")))
#define LOGREG_EMU_CLUSTER_7_1_1 __attribute__((section("logreg_emu_cluster_7_1_1")))
#define LOGREG_EMU_CLUSTER_8_1_1 __attribute__((section("logreg_emu_cluster_8_1_1")))
#define LOGREG_EMU_CLUSTER_1_2_1 __attribute__((section("logreg_emu_cluster_1_2_1")))
#define LOGREG_EMU_CLUSTER_2_2_1 __attribute__((section("logreg_emu_cluster_2_2_1")))
#define LOGREG_EMU_CLUSTER_3_2_1 __attribute__((section("logreg_emu_cluster_3_2_1")))
#define LOGREG_EMU_CLUSTER_4_2_1 __attribute__((section("logreg_emu_cluster_4_2_1")))
#define LOGREG_EMU_CLUSTER_1_3_1 __attribute__((section("logreg_emu_cluster_1_3_1")))
#define LOGREG_EMU_CLUSTER_2_3_1 __attribute__((section("logreg_emu_cluster_2_3_1")))
#define LOGREG_EMU_CLUSTER_1_4_1 __attribute__((section("logreg_emu_cluster_1_4_1")))
#define LOGREG_EMU_CLUSTER_2_4_1 __attribute__((section("logreg_emu_cluster_2_4_1")))
#define LOGREG_EMU_CLUSTER_1_5_1 __attribute__((section("logreg_emu_cluster_1_5_1")))
#define LOGREG_EMU_CLUSTER_1_6_1 __attribute__((section("logreg_emu_cluster_1_6_1")))
#define LOGREG_EMU_CLUSTER_1_7_1 __attribute__((section("logreg_emu_cluster_1_7_1")))
#define LOGREG_EMU_CLUSTER_1_8_1 __attribute__((section("logreg_emu_cluster_1_8_1")))
#define LOGREG_EMU_CLUSTER_1_1_2 __attribute__((section("logreg_emu_cluster_1_1_2")))
#define LOGREG_EMU_CLUSTER_2_1_2 __attribute__((section("logreg_emu_cluster_2_1_2")))
#define LOGREG_EMU_CLUSTER_3_1_2 __attribute__((section("logreg_emu_cluster_3_1_2")))
#define LOGREG_EMU_CLUSTER_4_1_2 __attribute__((section("logreg_emu_cluster_4_1_2")))
#define LOGREG_EMU_CLUSTER_1_2_2 __attribute__((section("logreg_emu_cluster_1_2_2")))
#define LOGREG_EMU_CLUSTER_2_2_2 __attribute__((section("logreg_emu_cluster_2_2_2")))
#define LOGREG_EMU_CLUSTER_1_3_2 __attribute__((section("logreg_emu_cluster_1_3_2")))
#define LOGREG_EMU_CLUSTER_1_4_2 __attribute__((section("logreg_emu_cluster_1_4_2")))
#define LOGREG_EMU_CLUSTER_1_1_3 __attribute__((section("logreg_emu_cluster_1_1_3")))
#define LOGREG_EMU_CLUSTER_2_1_3 __attribute__((section("logreg_emu_cluster_2_1_3")))
#define LOGREG_EMU_CLUSTER_1_2_3 __attribute__((section("logreg_emu_cluster_1_2_3")))
#define LOGREG_EMU_CLUSTER_1_1_4 __attribute__((section("logreg_emu_cluster_1_1_4")))
#define LOGREG_EMU_CLUSTER_2_1_4 __attribute__((section("logreg_emu_cluster_2_1_4")))
#define LOGREG_EMU_CLUSTER_1_2_4 __attribute__((section("logreg_emu_cluster_1_2_4")))
#define LOGREG_EMU_CLUSTER_1_1_5 __attribute__((section("logreg_emu_cluster_1_1_5")))
#define LOGREG_EMU_CLUSTER_1_1_6 __attribute__((section("logreg_emu_cluster_1_1_6")))
#define LOGREG_EMU_CLUSTER_1_1_7 __attribute__((section("logreg_emu_cluster_1_1_7")))
#define LOGREG_EMU_CLUSTER_1_1_8 __attribute__((section("logreg_emu_cluster_1_1_8")))
