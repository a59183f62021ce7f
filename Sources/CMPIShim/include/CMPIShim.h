/* CMPIShim.h: the MPI calls the Swift code makes, as plain C functions.
   Open MPI's handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, MPI_IN_PLACE, ...) are macros over casts
   of global symbols that Swift cannot import, so each call that needs them gets a one-line body in
   shim.c. Every function returns an MPI error code (MPI_SUCCESS == CMPIShim_success()) unless noted.
   Communicators and requests travel as opaque pointers (Open MPI's MPI_Comm and
   MPI_Request are pointers to its own structs); every call names the communicator it works on.
   No training logic belongs here. */
#ifndef CMPISHIM_H
#define CMPISHIM_H

#include <stdint.h>

/* Constants */
int CMPIShim_success(void);
int CMPIShim_thread_serialized(void);
int CMPIShim_max_processor_name(void);
int CMPIShim_max_error_string(void);
int CMPIShim_max_library_version_string(void);

/* Life cycle */
int CMPIShim_init_thread(int required, int *provided);
int CMPIShim_finalized(int *flag);
int CMPIShim_finalize(void);
int CMPIShim_abort(int exit_code);                 /* the whole job, whatever the communicator */
int CMPIShim_set_errors_return(void *comm);

/* Communicators */
void *CMPIShim_comm_world(void);                   /* MPI_COMM_WORLD (returns the handle, no code) */
int CMPIShim_comm_split(void *comm, int color, int key, void **part);   /* ranks of one color */
int CMPIShim_comm_split_node(void *comm, void **node_comm);             /* the ranks sharing this rank's node */
int CMPIShim_comm_size(void *comm, int *size);
int CMPIShim_comm_rank(void *comm, int *rank);
int CMPIShim_comm_free(void **comm);
int CMPIShim_processor_name(char *name, int *length);

/* Collectives */
int CMPIShim_allreduce_sum_float(void *comm, float *buffer, int count);                 /* in place */
int CMPIShim_allreduce_sum_int64(void *comm, int64_t *buffer, int count);               /* in place */
int CMPIShim_allreduce_max_int64(void *comm, int64_t *buffer, int count);               /* in place */
int CMPIShim_allgather_int64(void *comm, const int64_t *value, int64_t *all);           /* one value per rank */
int CMPIShim_allgatherv_float(void *comm, float *buffer, const int *counts, const int *displacements); /* in place */
int CMPIShim_iallgather_float(void *comm, const float *send, int count, float *receive, void **request);
int CMPIShim_iallgatherv_float(void *comm, float *buffer, const int *counts, const int *displacements, void **request);
int CMPIShim_bcast_bytes(void *comm, void *buffer, int count, int root);
int CMPIShim_barrier(void *comm);
int CMPIShim_ibarrier(void *comm, void **request);
int CMPIShim_test(void **request, int *done);

/* Point to point, for the few int64 messages of a work queue. */
int CMPIShim_any_source(void);
int CMPIShim_send_int64(void *comm, const int64_t *buffer, int count, int destination, int tag);
int CMPIShim_recv_int64(void *comm, int64_t *buffer, int count, int source, int tag, int *from);
int CMPIShim_iprobe(void *comm, int source, int tag, int *flag, int *from);


/* The library's own version line; callable before MPI starts. */
int CMPIShim_library_version(char *text, int *length);

/* Time and errors */
double CMPIShim_wtime(void);
int CMPIShim_error_string(int code, char *text, int *length);

/* The step's allgather between the ranks of one node (node_exchange.c): shared memory, and a wait
   that sleeps until the awaited rank publishes. `create` and `free` are collective over `comm`,
   whose ranks must share a node; `next_slot` is where this rank writes its bytes (at most
   `slot_bytes`) for the next generation, which `publish` then starts; `wait` returns 1 once `rank` has published this generation, 0 after
   `timeout_ns` (spinning for the first `spin_ns`, yielding the core until `yield_ns`, then asleep);
   `slot` is `rank`'s bytes of it. */
int CMPIShim_node_exchange_create(void *comm, int64_t slot_bytes, void **handle);
int CMPIShim_node_exchange_free(void **handle);
void *CMPIShim_node_exchange_next_slot(void *handle);
void CMPIShim_node_exchange_publish(void *handle);
int CMPIShim_node_exchange_wait(void *handle, int rank, int64_t spin_ns, int64_t yield_ns, int64_t timeout_ns);
const void *CMPIShim_node_exchange_slot(void *handle, int rank);

#endif
