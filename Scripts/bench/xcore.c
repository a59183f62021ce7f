// How fast memory one core just wrote reaches another core: thread A (pinned to CPU 0) adds 1 to
// every float of a buffer, then thread B (CPU 1) reads them all, in turns, 2000 times; then one
// thread does both on CPU 0, for comparison. On shared VMs the cross-core figure changes with
// where the hypervisor puts the vCPUs (docs/performance.md: 4 GB/s in 40 % of samples, 12-20 GB/s
// in the rest, on AMD EPYC), and a design whose ranks read what the other rank wrote every step
// runs at that speed.
//
//   cc -O2 -pthread Scripts/bench/xcore.c -o /tmp/xcore && /tmp/xcore [bytes, default 524288]
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { ROUNDS = 2000 };
static size_t floats;
static float *buffer;
static atomic_int turn;          // 0: the writer's, 1: the reader's
static volatile float sink;      // keeps the reads

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void *writer(void *unused) {
    (void)unused;
    pin(0);
    for (int r = 0; r < ROUNDS; r++) {
        while (atomic_load(&turn) != 0) {}
        for (size_t i = 0; i < floats; i++) buffer[i] += 1.0f;
        atomic_store(&turn, 1);
    }
    return NULL;
}

static void *reader(void *unused) {
    (void)unused;
    pin(1);
    float sum = 0;
    for (int r = 0; r < ROUNDS; r++) {
        while (atomic_load(&turn) != 1) {}
        for (size_t i = 0; i < floats; i++) sum += buffer[i];
        atomic_store(&turn, 0);
    }
    sink = sum;
    return NULL;
}

int main(int argc, char **argv) {
    size_t bytes = argc > 1 ? (size_t)atol(argv[1]) : 512 * 1024;
    if (bytes < 64 || bytes > ((size_t)1 << 30)) {
        fprintf(stderr, "xcore: bytes must be from 64 to 2^30\n");
        return 2;
    }
    bytes = bytes / 64 * 64;
    floats = bytes / sizeof(float);
    buffer = aligned_alloc(64, bytes);
    if (!buffer) { fprintf(stderr, "xcore: out of memory\n"); return 1; }
    memset(buffer, 0, bytes);

    pthread_t a, b;
    double start = seconds();
    pthread_create(&a, NULL, writer, NULL);
    pthread_create(&b, NULL, reader, NULL);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    double across = seconds() - start;

    pin(0);
    float sum = 0;
    start = seconds();
    for (int r = 0; r < ROUNDS; r++) {
        for (size_t i = 0; i < floats; i++) buffer[i] += 1.0f;
        for (size_t i = 0; i < floats; i++) sum += buffer[i];
    }
    sink = sum;
    double same = seconds() - start;

    printf("%zu KB: cross-core round %.1f us (%.2f GB/s per direction), same-core round %.1f us\n",
           bytes / 1024, across / ROUNDS * 1e6, 2.0 * bytes * ROUNDS / across / 1e9, same / ROUNDS * 1e6);
    return 0;
}
