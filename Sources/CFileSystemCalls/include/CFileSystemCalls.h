#ifndef TOKENMETER_CFILESYSTEMCALLS_H
#define TOKENMETER_CFILESYSTEMCALLS_H

// Linux file-system calls that Swift's Glibc module does not export (they need _GNU_SOURCE).

/// fallocate(2) with FALLOC_FL_KEEP_SIZE: 0, or the negated errno (read in C, right after the call).
int tokenmeter_fallocate_keep_size(int fd, long long offset, long long length);

#endif
