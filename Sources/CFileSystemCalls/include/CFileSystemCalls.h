#ifndef TOKENMETER_CFILESYSTEMCALLS_H
#define TOKENMETER_CFILESYSTEMCALLS_H

// Linux file-system calls that Swift's Glibc module does not export (they need _GNU_SOURCE).

/// fallocate(2) with FALLOC_FL_KEEP_SIZE: 0, or -1 with errno set.
int tokenmeter_fallocate_keep_size(int fd, long long offset, long long length);

#endif
