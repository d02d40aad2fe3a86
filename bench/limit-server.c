/*
 * limit-server: the least any server can do with calcd-bench's bytes.
 * It answers fixed-size strict-binary add calls (30 bytes, 34 framed) by
 * reading seqid, a and b at fixed offsets and writing the fixed 23-byte
 * (27 framed) reply: no decoding, no checks, no allocation per call; one
 * read and one write per batch.  A peer for bench/compare.sh, never a
 * server for anything else.
 *
 * usage: limit-server [-f] [-j THREADS] HOST PORT
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define LIMIT_CALL	30	/* 80 01 00 01, len 3, "add", seqid, i32 a, i32 b, stop */
#define LIMIT_REPLY	23	/* 80 01 00 02, len 3, "add", seqid, i32 field 0, stop */
#define LIMIT_BUF	(64 * 1024)

struct limit_conn {
	int	 fd;
	uint8_t	 tail_len;
	uint8_t	 tail[LIMIT_CALL + 4];
	uint8_t	*pending;	/* replies the socket didn't take */
	size_t	 pending_len;
};

static const char	*limit_host, *limit_port;
static size_t		 limit_call = LIMIT_CALL, limit_reply = LIMIT_REPLY, limit_hdr;
static uint8_t		 limit_reply_template[LIMIT_REPLY + 4];

static int
limit_listen(void)
{
	struct addrinfo	 hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *ai;
	int		 fd, one = 1;

	if (getaddrinfo(limit_host, limit_port, &hints, &ai) != 0)
		return -1;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 4096) != 0) {
		perror("limit-server: listen");
		exit(2);
	}
	freeaddrinfo(ai);
	return fd;
}

static void
limit_close(struct limit_conn *c)
{
	close(c->fd);
	free(c->pending);
	free(c);
}

/* Send out[0..len); keep what the socket won't take.  -1 if the peer is gone. */
static int
limit_send(int ep, struct limit_conn *c, const uint8_t *out, size_t len)
{
	struct epoll_event	ev = { .data.ptr = c };
	ssize_t			n = send(c->fd, out, len, MSG_NOSIGNAL);

	if (n < 0 && errno != EAGAIN)
		return -1;
	if (n < 0)
		n = 0;
	if ((size_t)n == len)
		return 0;
	if ((c->pending = malloc(len - (size_t)n)) == NULL)
		return -1;
	memcpy(c->pending, out + n, len - (size_t)n);
	c->pending_len = len - (size_t)n;
	/* Stop reading until the backlog is gone. */
	ev.events = EPOLLOUT;
	return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static int
limit_drain(int ep, struct limit_conn *c)
{
	struct epoll_event	ev = { .events = EPOLLIN, .data.ptr = c };
	ssize_t			n = send(c->fd, c->pending, c->pending_len, MSG_NOSIGNAL);

	if (n < 0)
		return errno == EAGAIN ? 0 : -1;
	memmove(c->pending, c->pending + n, c->pending_len - (size_t)n);
	c->pending_len -= (size_t)n;
	if (c->pending_len > 0)
		return 0;
	free(c->pending);
	c->pending = NULL;
	return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Answer every whole call in one read with one write.  -1 to close. */
static int
limit_serve(int ep, struct limit_conn *c, uint8_t *in, uint8_t *out)
{
	size_t	have = c->tail_len, off, len = 0;
	ssize_t	n;

	memcpy(in, c->tail, c->tail_len);
	n = recv(c->fd, in + have, LIMIT_BUF - have, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0)
		return -1;
	have += (size_t)n;
	for (off = 0; off + limit_call <= have; off += limit_call) {
		const uint8_t *call = in + off + limit_hdr;

		memcpy(out + len, limit_reply_template, limit_reply);
		memcpy(out + len + limit_hdr + 11, call + 11, 4);	/* seqid */
		uint32_t a = ntohl(*(const uint32_t *)(const void *)(call + 18));
		uint32_t b = ntohl(*(const uint32_t *)(const void *)(call + 25));
		uint32_t sum = htonl(a + b);
		memcpy(out + len + limit_hdr + 18, &sum, 4);
		len += limit_reply;
	}
	c->tail_len = (uint8_t)(have - off);
	memcpy(c->tail, in + off, c->tail_len);
	return len > 0 ? limit_send(ep, c, out, len) : 0;
}

static void *
limit_thread(void *arg)
{
	struct epoll_event	 evs[256], lev = { .events = EPOLLIN, .data.ptr = NULL };
	uint8_t			*in = malloc(LIMIT_BUF), *out = malloc(LIMIT_BUF);
	int			 lfd = limit_listen(), ep = epoll_create1(EPOLL_CLOEXEC);

	(void)arg;
	if (in == NULL || out == NULL || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) != 0) {
		perror("limit-server");
		exit(1);
	}
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);

		for (int i = 0; i < n; i++) {
			struct limit_conn *c = evs[i].data.ptr;

			if (c == NULL) {
				int fd, one = 1;

				while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					struct epoll_event ev = { .events = EPOLLIN };

					if ((c = calloc(1, sizeof *c)) == NULL) {
						close(fd);
						continue;
					}
					c->fd = fd;
					ev.data.ptr = c;
					(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
					if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
						limit_close(c);
				}
				continue;
			}
			if (c->pending_len > 0) {
				if (limit_drain(ep, c) != 0)
					limit_close(c);
			} else if (limit_serve(ep, c, in, out) != 0) {
				limit_close(c);
			}
		}
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	static const uint8_t	reply[LIMIT_REPLY] = {
		0x80, 0x01, 0x00, 0x02, 0, 0, 0, 3, 'a', 'd', 'd', 0, 0, 0, 0,
		8, 0, 0, 0, 0, 0, 0, 0,
	};
	struct rlimit		rl;
	cpu_set_t		cpus;
	unsigned		threads = 0;
	pthread_t		tid;
	int			ch;

	while ((ch = getopt(argc, argv, "fj:")) != -1) {
		switch (ch) {
		case 'f':
			limit_hdr = 4;
			break;
		case 'j':
			threads = (unsigned)atoi(optarg);
			break;
		default:
			goto usage;
		}
	}
	if (argc - optind != 2) {
usage:
		fprintf(stderr, "usage: limit-server [-f] [-j THREADS] HOST PORT\n");
		return 2;
	}
	limit_host = argv[optind];
	limit_port = argv[optind + 1];
	limit_call = LIMIT_CALL + limit_hdr;
	limit_reply = LIMIT_REPLY + limit_hdr;
	if (limit_hdr > 0)
		limit_reply_template[3] = LIMIT_REPLY;	/* the frame's length */
	memcpy(limit_reply_template + limit_hdr, reply, sizeof reply);
	/* One thread per CPU it may run on, like calcd's workers = auto. */
	if (threads == 0)
		threads = sched_getaffinity(0, sizeof cpus, &cpus) == 0 ?
		    (unsigned)CPU_COUNT(&cpus) : 1;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	for (unsigned i = 1; i < threads; i++)
		if (pthread_create(&tid, NULL, limit_thread, NULL) != 0)
			return 1;
	limit_thread(NULL);
	return 0;
}
