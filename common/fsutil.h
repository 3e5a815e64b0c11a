/*
 * fsutil.h - small file-system helpers shared by the emulator, its
 * launcher and the record mode.
 */
#ifndef DT_FSUTIL_H
#define DT_FSUTIL_H

#include <sys/types.h>

/* mkdir -p: creates path and its missing parents with mode (existing ones
 * are left as they are).  0, or -1 with errno (ENAMETOOLONG past
 * PATH_MAX). */
int fs_mkdir_p(const char *path, mode_t mode);

#endif
