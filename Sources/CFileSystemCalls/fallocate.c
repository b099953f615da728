#define _GNU_SOURCE
#include <fcntl.h>
#include <errno.h>
#include "CFileSystemCalls.h"

int tokenmeter_fallocate_keep_size(int fd, long long offset, long long length) {
#ifdef FALLOC_FL_KEEP_SIZE
    return fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)length) == 0 ? 0 : -errno;
#else
    (void)fd; (void)offset; (void)length;
    return -EOPNOTSUPP;
#endif
}
