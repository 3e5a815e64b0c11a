/*
 * netutil.h - network-namespace helpers shared by the emulator (its
 * start-up probe) and its launcher (the per-sandbox namespace holder and
 * the per-command namespace of --no-net).
 */
#ifndef DT_NETUTIL_H
#define DT_NETUTIL_H

/* Brings up `lo` in the calling thread's network namespace (a fresh one
 * has it down).  Only system calls, no allocation or stdio: safe in a
 * child forked from a threaded process.  0, or -1 with errno. */
int net_loopback_up(void);

#endif
