/*
 * sock: recv and send for the connection paths, as plain system calls.
 * glibc's recv and send are cancellation points: in a process with more
 * than one thread (calcd's main thread and its workers) each call flips
 * the thread's cancellation type around the system call with two atomic
 * read-modify-writes.  calcd never cancels a thread, so the paths that
 * run for every read and write make the system call directly.
 */
#ifndef CALCD_SOCK_H
#define CALCD_SOCK_H

#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

/* recv(2), without the cancellation point: -1 with errno on failure. */
static inline ssize_t
sock_recv(int fd, void *buf, size_t len, int flags)
{
	return (ssize_t)syscall(SYS_recvfrom, fd, buf, len, flags, NULL, NULL);
}

/* send(2), without the cancellation point: -1 with errno on failure. */
static inline ssize_t
sock_send(int fd, const void *buf, size_t len, int flags)
{
	return (ssize_t)syscall(SYS_sendto, fd, buf, len, flags, NULL, 0);
}

#endif
