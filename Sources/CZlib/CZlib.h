/* zlib: gzip decompression of IDX files and CRC-32 of checkpoint data. */
#include <zlib.h>
