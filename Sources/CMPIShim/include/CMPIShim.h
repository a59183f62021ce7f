/* CMPIShim.h: the MPI calls the Swift code makes, as plain C functions.
   Open MPI's handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, MPI_IN_PLACE, ...) are macros over casts
   of global symbols that Swift cannot import, so each call that needs them gets a one-line body in
   shim.c. Every function returns an MPI error code (MPI_SUCCESS == CMPIShim_success()) unless noted.
   Everything works on MPI_COMM_WORLD. No training logic belongs here. */
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
int CMPIShim_initialized(int *flag);
int CMPIShim_finalized(int *flag);
int CMPIShim_finalize(void);
int CMPIShim_abort(int exit_code);
int CMPIShim_set_errors_return(void);

/* Who am I */
int CMPIShim_rank(int *rank);
int CMPIShim_size(int *size);
int CMPIShim_processor_name(char *name, int *length);

/* Collectives on MPI_COMM_WORLD */
int CMPIShim_allreduce_sum_float(float *buffer, int count);                 /* in place */
int CMPIShim_allreduce_sum_int64(int64_t *buffer, int count);               /* in place */
int CMPIShim_allreduce_max_int64(int64_t *buffer, int count);               /* in place */
int CMPIShim_allgather_int64(const int64_t *value, int64_t *all);           /* one value per rank */
int CMPIShim_allgatherv_float(float *buffer, const int *counts, const int *displacements); /* in place */
int CMPIShim_reduce_scatter_sum_float(const float *send, float *receive, const int *counts);
/* Nonblocking forms; a request travels as an opaque pointer (Open MPI's MPI_Request is a pointer). */
int CMPIShim_iallgatherv_float(float *buffer, const int *counts, const int *displacements, void **request);
int CMPIShim_waitall(int count, void **requests);
int CMPIShim_bcast_bytes(void *buffer, int count, int root);
int CMPIShim_barrier(void);
int CMPIShim_ibarrier(void **request);
int CMPIShim_test(void **request, int *done);

/* A node's shared memory (MPI-3 shared windows). Communicators and windows travel as opaque
   pointers: Open MPI's MPI_Comm and MPI_Win are pointers to its own structs. */
int CMPIShim_comm_split_node(void **node_comm);   /* the ranks sharing this rank's node */
int CMPIShim_comm_size(void *comm, int *size);
int CMPIShim_comm_rank(void *comm, int *rank);
int CMPIShim_comm_free(void **comm);
int CMPIShim_win_allocate_shared(long bytes, void *comm, void **base, void **window);
int CMPIShim_win_shared_query(void *window, int rank, void **base);
int CMPIShim_win_lock_all(void *window);
int CMPIShim_win_sync(void *window);
int CMPIShim_win_unlock_all(void *window);
int CMPIShim_win_free(void **window);

/* The library's own version line; callable before MPI starts. */
int CMPIShim_library_version(char *text, int *length);

/* Time and errors */
double CMPIShim_wtime(void);
int CMPIShim_error_string(int code, char *text, int *length);

#endif
