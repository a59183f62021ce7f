/* node_exchange.c: the step's allgather between ranks of one node, through memory they share, with
   a wait that sleeps in the kernel (futex) until the rank it waits for has published.

   Why not MPI's own: Open MPI's shared-memory transport can only be polled, so a rank that waits
   long must keep its core (spinning) or give it away blindly (sched_yield, usleep) and come back
   late. With a busy process beside the job, or more ranks than cores, a rank that polls takes turns
   from the rank it waits for. Here a waiting rank spins briefly (a normal step's wait), yields the
   core for a while (another rank on it runs), then sleeps, and the publishing rank wakes it the
   moment its rows are there. Measured in docs/performance.md ("Under load").

   Layout of the shared segment (MPI_Win_allocate_shared, rank 0 allocates it all):
     per rank, one 64-byte line: its published generation (the futex word) and its sleepers count;
     then two slots per rank of `slot_bytes` each, for even and odd generations.
   A rank writes generation g into its slot g % 2 only after it has seen every rank publish g - 1,
   which each does only after copying out generation g - 2: so a slot is never written while read. */
#define _GNU_SOURCE
#include <mpi.h>
#include <sched.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "CMPIShim.h"

struct rank_line {
    _Atomic uint32_t generation;   /* the last generation this rank published (the futex word) */
    _Atomic uint32_t sleepers;     /* ranks asleep on `generation` */
    char pad[56];
};

struct node_exchange {
    MPI_Win window;
    struct rank_line *lines;
    char *slots;
    int64_t slot_bytes;
    int size, rank;
    uint32_t generation;           /* this rank's: the one being exchanged */
    int waiting_for;               /* the wait under way, which a timed-out call's next call goes on */
    uint32_t waiting_generation;   /* with (its spinning and yielding are not started again) */
    int64_t waiting_since;
};

static long futex(_Atomic uint32_t *word, int op, uint32_t value, const struct timespec *timeout) {
    return syscall(SYS_futex, (uint32_t *)word, op, value, timeout, NULL, 0);
}

static void pause_briefly(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

/* Whether `seen` is generation g or later (a fast rank may already have published the next one). */
static int reached(uint32_t seen, uint32_t g) { return (int32_t)(seen - g) >= 0; }

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static char *slot(struct node_exchange *x, int rank, uint32_t generation) {
    return x->slots + ((int64_t)(generation % 2) * x->size + rank) * x->slot_bytes;
}

int CMPIShim_node_exchange_create(void *comm, int64_t slot_bytes, void **handle) {
    struct node_exchange *x = calloc(1, sizeof *x);
    if (!x) return MPI_ERR_NO_MEM;
    MPI_Comm c = (MPI_Comm)comm;
    int error = MPI_Comm_size(c, &x->size);
    if (error == MPI_SUCCESS) error = MPI_Comm_rank(c, &x->rank);
    x->slot_bytes = (slot_bytes + 63) / 64 * 64;
    x->waiting_for = -1;
    MPI_Aint total = (MPI_Aint)x->size * (MPI_Aint)sizeof(struct rank_line) + 2 * (MPI_Aint)x->size * x->slot_bytes;
    void *base = NULL;
    if (error == MPI_SUCCESS)
        error = MPI_Win_allocate_shared(x->rank == 0 ? total : 0, 64, MPI_INFO_NULL, c, &base, &x->window);
    if (error != MPI_SUCCESS) { free(x); return error; }
    MPI_Aint size; int unit;
    error = MPI_Win_shared_query(x->window, 0, &size, &unit, &base);
    if (error != MPI_SUCCESS) { MPI_Win_free(&x->window); free(x); return error; }
    x->lines = base;
    x->slots = (char *)base + x->size * sizeof(struct rank_line);
    if (x->rank == 0) memset(base, 0, x->size * sizeof(struct rank_line));
    error = MPI_Barrier(c);   /* the lines are zero before anyone publishes */
    if (error != MPI_SUCCESS) { MPI_Win_free(&x->window); free(x); return error; }
    *handle = x;
    return MPI_SUCCESS;
}

int CMPIShim_node_exchange_free(void **handle) {
    struct node_exchange *x = *handle;
    if (!x) return MPI_SUCCESS;
    int error = MPI_Win_free(&x->window);
    free(x);
    *handle = NULL;
    return error;
}

void *CMPIShim_node_exchange_next_slot(void *handle) {
    struct node_exchange *x = handle;
    return slot(x, x->rank, x->generation + 1);
}

void CMPIShim_node_exchange_publish(void *handle) {
    struct node_exchange *x = handle;
    uint32_t g = ++x->generation;
    struct rank_line *mine = &x->lines[x->rank];
    /* Sequentially consistent store then load, against the sleeper's increment then load: either it
       sees the new generation, or this sees it asleep and wakes it. */
    atomic_store(&mine->generation, g);
    if (atomic_load(&mine->sleepers) > 0) futex(&mine->generation, FUTEX_WAKE, INT_MAX, NULL);
}

int CMPIShim_node_exchange_wait(void *handle, int rank, int64_t spin_ns, int64_t yield_ns, int64_t timeout_ns) {
    struct node_exchange *x = handle;
    struct rank_line *line = &x->lines[rank];
    uint32_t g = x->generation;
    int64_t call = now_ns();
    if (x->waiting_for != rank || x->waiting_generation != g) {
        x->waiting_for = rank;
        x->waiting_generation = g;
        x->waiting_since = call;
    }
    while (!reached(atomic_load_explicit(&line->generation, memory_order_acquire), g)) {
        int64_t now = now_ns(), waited = now - x->waiting_since;
        if (now - call >= timeout_ns) return 0;
        if (waited < spin_ns) { pause_briefly(); continue; }
        if (waited < yield_ns) { sched_yield(); continue; }
        int64_t left = timeout_ns - (now - call);
        struct timespec t = { left / 1000000000, left % 1000000000 };
        atomic_fetch_add(&line->sleepers, 1);
        uint32_t seen = atomic_load(&line->generation);
        if (!reached(seen, g)) futex(&line->generation, FUTEX_WAIT, seen, &t);
        atomic_fetch_sub(&line->sleepers, 1);
    }
    return 1;
}

const void *CMPIShim_node_exchange_slot(void *handle, int rank) {
    struct node_exchange *x = handle;
    return slot(x, rank, x->generation);
}
