/* shim.c: one-line bodies that put Open MPI's macro handles where Swift cannot reach them. */
#include <mpi.h>
#include "CMPIShim.h"

int CMPIShim_success(void) { return MPI_SUCCESS; }
int CMPIShim_thread_serialized(void) { return MPI_THREAD_SERIALIZED; }
int CMPIShim_max_processor_name(void) { return MPI_MAX_PROCESSOR_NAME; }
int CMPIShim_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
int CMPIShim_max_library_version_string(void) { return MPI_MAX_LIBRARY_VERSION_STRING; }
int CMPIShim_library_version(char *text, int *length) { return MPI_Get_library_version(text, length); }

int CMPIShim_init_thread(int required, int *provided) { return MPI_Init_thread(NULL, NULL, required, provided); }
int CMPIShim_finalized(int *flag) { return MPI_Finalized(flag); }
int CMPIShim_finalize(void) { return MPI_Finalize(); }
int CMPIShim_abort(int exit_code) { return MPI_Abort(MPI_COMM_WORLD, exit_code); }
int CMPIShim_set_errors_return(void *comm) { return MPI_Comm_set_errhandler((MPI_Comm)comm, MPI_ERRORS_RETURN); }

void *CMPIShim_comm_world(void) { return (void *)MPI_COMM_WORLD; }
int CMPIShim_comm_split(void *comm, int color, int key, void **part) {
    return MPI_Comm_split((MPI_Comm)comm, color, key, (MPI_Comm *)part);
}
int CMPIShim_comm_split_node(void *comm, void **node_comm) {
    return MPI_Comm_split_type((MPI_Comm)comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, (MPI_Comm *)node_comm);
}
int CMPIShim_comm_size(void *comm, int *size) { return MPI_Comm_size((MPI_Comm)comm, size); }
int CMPIShim_comm_rank(void *comm, int *rank) { return MPI_Comm_rank((MPI_Comm)comm, rank); }
int CMPIShim_comm_free(void **comm) { return MPI_Comm_free((MPI_Comm *)comm); }
int CMPIShim_processor_name(char *name, int *length) { return MPI_Get_processor_name(name, length); }

int CMPIShim_allreduce_sum_float(void *comm, float *buffer, int count) {
    return MPI_Allreduce(MPI_IN_PLACE, buffer, count, MPI_FLOAT, MPI_SUM, (MPI_Comm)comm);
}
int CMPIShim_allreduce_sum_int64(void *comm, int64_t *buffer, int count) {
    return MPI_Allreduce(MPI_IN_PLACE, buffer, count, MPI_INT64_T, MPI_SUM, (MPI_Comm)comm);
}
int CMPIShim_allreduce_max_int64(void *comm, int64_t *buffer, int count) {
    return MPI_Allreduce(MPI_IN_PLACE, buffer, count, MPI_INT64_T, MPI_MAX, (MPI_Comm)comm);
}
int CMPIShim_allgather_int64(void *comm, const int64_t *value, int64_t *all) {
    return MPI_Allgather(value, 1, MPI_INT64_T, all, 1, MPI_INT64_T, (MPI_Comm)comm);
}
int CMPIShim_allgatherv_float(void *comm, float *buffer, const int *counts, const int *displacements) {
    return MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buffer, counts, displacements, MPI_FLOAT, (MPI_Comm)comm);
}
int CMPIShim_iallgather_float(void *comm, const float *send, int count, float *receive, void **request) {
    return MPI_Iallgather(send, count, MPI_FLOAT, receive, count, MPI_FLOAT, (MPI_Comm)comm, (MPI_Request *)request);
}
int CMPIShim_iallgatherv_float(void *comm, float *buffer, const int *counts, const int *displacements, void **request) {
    return MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buffer, counts, displacements, MPI_FLOAT, (MPI_Comm)comm,
                           (MPI_Request *)request);
}
int CMPIShim_bcast_bytes(void *comm, void *buffer, int count, int root) {
    return MPI_Bcast(buffer, count, MPI_BYTE, root, (MPI_Comm)comm);
}
int CMPIShim_barrier(void *comm) { return MPI_Barrier((MPI_Comm)comm); }
int CMPIShim_ibarrier(void *comm, void **request) { return MPI_Ibarrier((MPI_Comm)comm, (MPI_Request *)request); }
int CMPIShim_test(void **request, int *done) { return MPI_Test((MPI_Request *)request, done, MPI_STATUS_IGNORE); }

int CMPIShim_any_source(void) { return MPI_ANY_SOURCE; }
int CMPIShim_send_int64(void *comm, const int64_t *buffer, int count, int destination, int tag) {
    return MPI_Send(buffer, count, MPI_INT64_T, destination, tag, (MPI_Comm)comm);
}
int CMPIShim_recv_int64(void *comm, int64_t *buffer, int count, int source, int tag, int *from) {
    MPI_Status status;
    int code = MPI_Recv(buffer, count, MPI_INT64_T, source, tag, (MPI_Comm)comm, &status);
    *from = status.MPI_SOURCE;
    return code;
}
int CMPIShim_iprobe(void *comm, int source, int tag, int *flag, int *from) {
    MPI_Status status;
    int code = MPI_Iprobe(source, tag, (MPI_Comm)comm, flag, &status);
    *from = status.MPI_SOURCE;
    return code;
}


double CMPIShim_wtime(void) { return MPI_Wtime(); }
int CMPIShim_error_string(int code, char *text, int *length) { return MPI_Error_string(code, text, length); }
