/* Open MPI's C API; only the CMPIShim target includes it. */
#include <mpi.h>
