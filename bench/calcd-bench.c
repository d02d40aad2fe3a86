/*
 * calcd-bench: a load generator for CalculatorService.add, for calcd or
 * any Thrift server of the same IDL.  N connections each keep D calls in
 * flight (pipelined), in strict binary or compact, buffered, framed or
 * THeader.  Every reply is checked (seqid, method, a + b; THeader: its
 * protocol, flags and sequence number too); latencies go into log-linear
 * buckets.  M more connections can sit mostly idle meanwhile (one call
 * when opened, one at the end).  Exits 0 only if every call got its right
 * reply; it stops by itself, after a time or a number of calls.
 *
 * With --tls it speaks TLS (bench_tls.c); with --handshakes each connection
 * carries one call and is closed, then opened again: connections (and TLS
 * handshakes) per second.
 *
 * Given the server's pid it measures, over the measured interval, the
 * server's CPU time (perf's task-clock counter on every server thread,
 * else /proc ticks), and the CPU time every other process used: /proc/stat
 * busy time minus the server's and this client's own.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "bench_tls.h"

#define BENCH_MAX_CALL		64	/* largest encoded call, THeader binary: 48 */
#define BENCH_MAX_FRAME		65536	/* a reply frame larger than this is wrong */
#define BENCH_EVENTS		512
#define BENCH_IDLE_BATCH	500	/* idle connections opened, then answered, at a time */
#define BENCH_IDLE_IN		128	/* an idle connection's reply buffer */

/* Latency buckets: exact below 64 ns, then 32 per power of two (3 %). */
#define HIST_SUB_BITS		5
#define HIST_SUB		(1u << HIST_SUB_BITS)
#define HIST_BUCKETS		(2 * HIST_SUB + 64 * HIST_SUB)

enum bench_proto { BENCH_BINARY, BENCH_COMPACT };
enum bench_framing { BENCH_BUFFERED, BENCH_FRAMED, BENCH_HEADER };

/* THeader (doc/specs/HeaderFormat.md in Apache Thrift). */
#define HEADER_MAGIC		0x0fff
#define HEADER_FIXED		10	/* magic, flags, sequence number, header size */
#define HEADER_BLOCK		4	/* protocol id, no transforms, 2 bytes padding */
#define HEADER_PROTOCOL_BINARY	0
#define HEADER_PROTOCOL_COMPACT	2

/* Message and field type ids, as the binary protocol numbers them. */
enum { T_I32 = 8, T_STRING = 11 };
enum { M_CALL = 1, M_REPLY = 2, M_EXCEPTION = 3 };

struct bench_opts {
	const char		*host;
	const char		*port;
	unsigned		 conns;
	unsigned		 depth;
	unsigned		 threads;
	unsigned		 idle;
	enum bench_proto	 proto;
	enum bench_framing	 framing;
	double			 duration;
	double			 warmup;
	double			 drain;
	uint64_t		 calls;		/* 0: run for duration; else this many */
	uint64_t		 seed;
	long			 server_pid;
	bool			 kv;
	bool			 tls;
	bool			 handshakes;	/* one call per connection, then reconnect */
	const char		*tls_ca, *tls_cert, *tls_key;
};

/* One call on the wire, waiting for its reply. */
struct bench_call {
	int32_t		 seqid;
	int32_t		 expect;
	uint64_t	 sent_ns;
};

struct bench_conn {
	int			 fd;
	struct bench_tls	*tls;		/* NULL: in the clear */
	unsigned		 index;
	bool			 want_out;	/* EPOLLOUT is on */
	int32_t			 next_seqid;
	struct bench_call	*ring;		/* depth entries */
	unsigned		 head, count;
	uint8_t			*out;
	size_t			 out_off, out_len, out_cap;
	uint8_t			*in;
	size_t			 in_len, in_cap;
};

struct bench_thread {
	pthread_t		 tid;
	unsigned		 index;
	int			 ep;
	struct bench_conn	*conns;
	unsigned		 nconns;
	uint64_t		 rng;
	uint64_t		 inflight;
	uint64_t		 quota;		/* with --calls: calls this thread sends */
	uint64_t		 sent;
	uint64_t		 measured;	/* replies inside the measured window */
	uint64_t		 checked;	/* every reply checked */
	uint64_t		*hist;
};

/* A connection kept open, mostly idle, beside the load. */
struct bench_idle {
	int		 fd;
	bool		 answered;
	int32_t		 seqid;
	int32_t		 expect;
	uint8_t		 in_len;
	uint8_t		 in[BENCH_IDLE_IN];
};

/* What a reply said. */
struct bench_reply {
	int32_t		 header_seq;	/* THeader: the frame's sequence number */
	uint8_t		 type;
	int32_t		 seqid;
	const uint8_t	*name;
	uint32_t	 name_len;
	bool		 has_value;
	int32_t		 value;
	int32_t		 exc_type;
	const uint8_t	*exc_msg;
	uint32_t	 exc_len;
};

/* A cursor over received bytes: 0 ok, 1 need more, 2 bad (error says why). */
struct bench_rd {
	const uint8_t	*p;
	const uint8_t	*end;
	const char	*error;
};

enum { RD_OK = 0, RD_MORE = 1, RD_BAD = 2 };

static struct bench_opts	 opts = {
	.host = "127.0.0.1", .port = "9090", .conns = 1, .depth = 1, .threads = 1,
	.proto = BENCH_BINARY, .framing = BENCH_BUFFERED,
	.duration = 3, .warmup = 1, .drain = 5, .server_pid = 0,
};
static struct addrinfo		*bench_addr;
static uint64_t			 t_measure, t_end, t_drain;
static atomic_bool		 bench_failed;
static pthread_mutex_t		 bench_error_lock = PTHREAD_MUTEX_INITIALIZER;
static char			 bench_error_text[512];

static void
bench_fail(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&bench_error_lock);
	if (!atomic_load(&bench_failed)) {
		va_start(ap, fmt);
		vsnprintf(bench_error_text, sizeof bench_error_text, fmt, ap);
		va_end(ap);
		atomic_store(&bench_failed, true);
	}
	pthread_mutex_unlock(&bench_error_lock);
}

static uint64_t
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
bench_sleep_until(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000u),
	    .tv_nsec = (long)(ns % 1000000000u) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static uint64_t
bench_rand(uint64_t *s)
{
	/* xorshift64* */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

/* An argument in [-2^30, 2^30): the sum of two always fits in an i32. */
static int32_t
bench_rand_arg(uint64_t *s)
{
	return (int32_t)(bench_rand(s) >> 33) - (1 << 30);
}

/* --- latency histogram ---------------------------------------------------- */

static unsigned
hist_index(uint64_t v)
{
	unsigned msb, shift;

	if (v < 2 * HIST_SUB)
		return (unsigned)v;
	msb = 63u - (unsigned)__builtin_clzll(v);
	shift = msb - HIST_SUB_BITS;
	return 2 * HIST_SUB + (shift - 1) * HIST_SUB + (unsigned)((v >> shift) - HIST_SUB);
}

/* The middle of bucket i's range. */
static double
hist_value(unsigned i)
{
	unsigned shift;
	uint64_t low;

	if (i < 2 * HIST_SUB)
		return i;
	shift = (i - 2 * HIST_SUB) / HIST_SUB + 1;
	low = (uint64_t)((i - 2 * HIST_SUB) % HIST_SUB + HIST_SUB) << shift;
	return (double)low + (double)((uint64_t)1 << shift) / 2;
}

static double
hist_quantile(const uint64_t *h, uint64_t total, double q)
{
	uint64_t want, seen = 0;

	if (total == 0)
		return 0;
	want = (uint64_t)(q * (double)total + 0.999999);
	if (want < 1)
		want = 1;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h[i];
		if (seen >= want)
			return hist_value(i);
	}
	return hist_value(HIST_BUCKETS - 1);
}

/* --- the wire --------------------------------------------------------------- */

static uint8_t *
put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	return p + 4;
}

static uint32_t
get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint8_t *
put_varint(uint8_t *p, uint32_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

static uint32_t
zigzag32(int32_t v)
{
	return ((uint32_t)v << 1) ^ (uint32_t)(v >> 31);
}

static const char *
bench_framing_name(void)
{
	switch (opts.framing) {
	case BENCH_FRAMED:
		return "framed";
	case BENCH_HEADER:
		return "header";
	default:
		return "buffered";
	}
}

static uint8_t
bench_header_protocol(void)
{
	return opts.proto == BENCH_BINARY ? HEADER_PROTOCOL_BINARY : HEADER_PROTOCOL_COMPACT;
}

/*
 * Encode add(a, b) as a CALL with seqid at p; returns its length.  A
 * THeader frame carries the seqid as its sequence number too, no flags,
 * and a header of one 4-byte word: the protocol, no transforms, padding.
 */
static size_t
bench_encode_call(uint8_t *p, int32_t seqid, int32_t a, int32_t b)
{
	uint8_t *start = p, *body;

	if (opts.framing != BENCH_BUFFERED)
		p += 4;
	body = p;
	if (opts.framing == BENCH_HEADER) {
		*p++ = HEADER_MAGIC >> 8;
		*p++ = HEADER_MAGIC & 0xff;
		*p++ = 0;	/* flags */
		*p++ = 0;
		p = put_be32(p, (uint32_t)seqid);
		*p++ = 0;	/* header size, in 4-byte words */
		*p++ = HEADER_BLOCK / 4;
		*p++ = bench_header_protocol();
		*p++ = 0;	/* transforms */
		*p++ = 0;	/* padding */
		*p++ = 0;
	}
	if (opts.proto == BENCH_BINARY) {
		p = put_be32(p, 0x80010000u | M_CALL);
		p = put_be32(p, 3);
		memcpy(p, "add", 3);
		p += 3;
		p = put_be32(p, (uint32_t)seqid);
		*p++ = T_I32;
		*p++ = 0;
		*p++ = 1;
		p = put_be32(p, (uint32_t)a);
		*p++ = T_I32;
		*p++ = 0;
		*p++ = 2;
		p = put_be32(p, (uint32_t)b);
		*p++ = 0;
	} else {
		*p++ = 0x82;
		*p++ = (uint8_t)(M_CALL << 5 | 1);
		p = put_varint(p, (uint32_t)seqid);
		*p++ = 3;
		memcpy(p, "add", 3);
		p += 3;
		*p++ = 0x15;		/* field delta 1, i32 */
		p = put_varint(p, zigzag32(a));
		*p++ = 0x15;
		p = put_varint(p, zigzag32(b));
		*p++ = 0;
	}
	if (opts.framing != BENCH_BUFFERED)
		put_be32(start, (uint32_t)(p - body));
	return (size_t)(p - start);
}

static int
rd_bytes(struct bench_rd *r, size_t n, const uint8_t **out)
{
	if ((size_t)(r->end - r->p) < n)
		return RD_MORE;
	*out = r->p;
	r->p += n;
	return RD_OK;
}

static int
rd_varint(struct bench_rd *r, uint64_t *v)
{
	*v = 0;
	for (unsigned shift = 0; shift < 70; shift += 7) {
		uint8_t b;

		if (r->p >= r->end)
			return RD_MORE;
		b = *r->p++;
		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return RD_OK;
	}
	r->error = "varint longer than 10 bytes";
	return RD_BAD;
}

static int
rd_i32(struct bench_rd *r, int32_t *v)
{
	const uint8_t	*p;
	uint64_t	 u;
	int		 rc;

	if (opts.proto == BENCH_BINARY) {
		if ((rc = rd_bytes(r, 4, &p)) != RD_OK)
			return rc;
		*v = (int32_t)get_be32(p);
		return RD_OK;
	}
	if ((rc = rd_varint(r, &u)) != RD_OK)
		return rc;
	*v = (int32_t)((uint32_t)(u >> 1) ^ -(uint32_t)(u & 1));
	return RD_OK;
}

static int
rd_string(struct bench_rd *r, const uint8_t **s, uint32_t *len)
{
	const uint8_t	*p;
	uint64_t	 u;
	int		 rc;

	if (opts.proto == BENCH_BINARY) {
		if ((rc = rd_bytes(r, 4, &p)) != RD_OK)
			return rc;
		u = get_be32(p);
	} else if ((rc = rd_varint(r, &u)) != RD_OK) {
		return rc;
	}
	if (u > BENCH_MAX_FRAME) {
		r->error = "string longer than 64 KiB in a reply";
		return RD_BAD;
	}
	*len = (uint32_t)u;
	return rd_bytes(r, (size_t)u, s);
}

/* A field header, its type in binary-protocol numbering; type 0 ends the struct. */
static int
rd_field(struct bench_rd *r, int16_t *last, uint8_t *type, int16_t *id)
{
	const uint8_t	*p;
	uint64_t	 u;
	int		 rc;

	if ((rc = rd_bytes(r, 1, &p)) != RD_OK)
		return rc;
	if (p[0] == 0) {
		*type = 0;
		return RD_OK;
	}
	if (opts.proto == BENCH_BINARY) {
		*type = p[0];
		if ((rc = rd_bytes(r, 2, &p)) != RD_OK)
			return rc;
		*id = (int16_t)(p[0] << 8 | p[1]);
		return RD_OK;
	}
	switch (p[0] & 0x0f) {
	case 5:
		*type = T_I32;
		break;
	case 8:
		*type = T_STRING;
		break;
	default:
		*type = 0xff;	/* nothing a reply to add may hold */
		break;
	}
	if (p[0] >> 4) {
		*id = (int16_t)(*last + (p[0] >> 4));
	} else {
		if ((rc = rd_varint(r, &u)) != RD_OK)
			return rc;
		*id = (int16_t)((uint16_t)(u >> 1) ^ -(uint16_t)(u & 1));
	}
	*last = *id;
	return RD_OK;
}

/* Decode one REPLY or EXCEPTION message holding add's result. */
static int
bench_parse_message(struct bench_rd *r, struct bench_reply *m)
{
	const uint8_t	*p;
	uint64_t	 u;
	int16_t		 last = 0, id = 0;
	uint8_t		 type;
	int		 rc;

	memset(m, 0, sizeof *m);
	if (opts.proto == BENCH_BINARY) {
		if ((rc = rd_bytes(r, 4, &p)) != RD_OK)
			return rc;
		if (p[0] != 0x80 || p[1] != 0x01) {
			r->error = "not a strict binary message header";
			return RD_BAD;
		}
		m->type = p[3] & 7;
		if ((rc = rd_string(r, &m->name, &m->name_len)) != RD_OK ||
		    (rc = rd_i32(r, &m->seqid)) != RD_OK)
			return rc;
	} else {
		if ((rc = rd_bytes(r, 2, &p)) != RD_OK)
			return rc;
		if (p[0] != 0x82 || (p[1] & 0x1f) != 1) {
			r->error = "not a compact message header";
			return RD_BAD;
		}
		m->type = p[1] >> 5;
		if ((rc = rd_varint(r, &u)) != RD_OK)
			return rc;
		m->seqid = (int32_t)(uint32_t)u;
		if ((rc = rd_string(r, &m->name, &m->name_len)) != RD_OK)
			return rc;
	}
	if (m->type != M_REPLY && m->type != M_EXCEPTION) {
		r->error = "message is neither REPLY nor EXCEPTION";
		return RD_BAD;
	}
	for (;;) {
		if ((rc = rd_field(r, &last, &type, &id)) != RD_OK)
			return rc;
		if (type == 0)
			return RD_OK;
		if (m->type == M_REPLY && id == 0 && type == T_I32) {
			if ((rc = rd_i32(r, &m->value)) != RD_OK)
				return rc;
			m->has_value = true;
		} else if (m->type == M_EXCEPTION && id == 1 && type == T_STRING) {
			if ((rc = rd_string(r, &m->exc_msg, &m->exc_len)) != RD_OK)
				return rc;
		} else if (m->type == M_EXCEPTION && id == 2 && type == T_I32) {
			if ((rc = rd_i32(r, &m->exc_type)) != RD_OK)
				return rc;
		} else {
			r->error = "unexpected field in a reply to add";
			return RD_BAD;
		}
	}
}

/*
 * Check a THeader reply's fixed part and header block (r covers the frame
 * after its length) and leave r at the payload: RD_OK or RD_BAD with *why.
 */
static int
bench_header_skip(struct bench_rd *r, int32_t *seq, const char **why)
{
	const uint8_t	*p = r->p, *block, *block_end;
	size_t		 block_len;
	uint64_t	 protocol, transforms;
	struct bench_rd	 h;

	if (r->end - p < HEADER_FIXED || p[0] != HEADER_MAGIC >> 8 ||
	    p[1] != (HEADER_MAGIC & 0xff)) {
		*why = "reply is not a THeader frame";
		return RD_BAD;
	}
	if (p[2] != 0 || p[3] != 0) {
		*why = "THeader reply with flags the call did not set";
		return RD_BAD;
	}
	*seq = (int32_t)get_be32(p + 4);
	block_len = ((size_t)p[8] << 8 | p[9]) * 4;
	if (block_len > (size_t)(r->end - p) - HEADER_FIXED) {
		*why = "THeader reply's header runs past its frame";
		return RD_BAD;
	}
	block = p + HEADER_FIXED;
	block_end = block + block_len;
	h = (struct bench_rd){ block, block_end, NULL };
	if (rd_varint(&h, &protocol) != RD_OK || rd_varint(&h, &transforms) != RD_OK) {
		*why = "THeader reply's header block is malformed";
		return RD_BAD;
	}
	if (protocol != bench_header_protocol()) {
		*why = protocol == HEADER_PROTOCOL_BINARY ?
		    "THeader reply in the binary protocol, the call was compact" :
		    "THeader reply in another protocol than the call's";
		return RD_BAD;
	}
	if (transforms != 0) {
		*why = "THeader reply with transforms the call did not ask for";
		return RD_BAD;
	}
	/* Info headers and padding may follow: the payload starts after the block. */
	r->p = block_end;
	return RD_OK;
}

/*
 * Find one whole reply at data[0..len): RD_OK with its length in *used,
 * RD_MORE, or RD_BAD with *why.
 */
static int
bench_next_reply(const uint8_t *data, size_t len, struct bench_reply *m, size_t *used,
    const char **why)
{
	struct bench_rd	r = { data, data + len, NULL };
	uint32_t	flen;
	int32_t		header_seq = 0;
	int		rc;

	if (opts.framing != BENCH_BUFFERED) {
		if (len < 4)
			return RD_MORE;
		flen = get_be32(data);
		if (flen > BENCH_MAX_FRAME) {
			*why = "reply frame over 64 KiB";
			return RD_BAD;
		}
		if (len - 4 < flen)
			return RD_MORE;
		r.p = data + 4;
		r.end = data + 4 + flen;
		if (opts.framing == BENCH_HEADER &&
		    bench_header_skip(&r, &header_seq, why) != RD_OK)
			return RD_BAD;
		rc = bench_parse_message(&r, m);
		m->header_seq = header_seq;
		if (rc == RD_MORE) {
			*why = "reply frame shorter than its message";
			return RD_BAD;
		}
		if (rc == RD_OK && r.p != r.end) {
			*why = "reply frame longer than its message";
			return RD_BAD;
		}
		*why = r.error;
		*used = 4 + (size_t)flen;
		return rc;
	}
	rc = bench_parse_message(&r, m);
	*why = r.error;
	*used = (size_t)(r.p - data);
	return rc;
}

/* Check a reply against the call it answers; false (and bench_fail) if wrong. */
static bool
bench_check(const char *who, unsigned index, const struct bench_reply *m, int32_t seqid,
    int32_t expect)
{
	if (m->type == M_EXCEPTION) {
		bench_fail("%s %u: seqid %" PRId32 ": exception (type %" PRId32 "): %.*s", who,
		    index, m->seqid, m->exc_type, (int)m->exc_len, (const char *)m->exc_msg);
		return false;
	}
	if (m->name_len != 3 || memcmp(m->name, "add", 3) != 0) {
		bench_fail("%s %u: reply names method '%.*s', not 'add'", who, index,
		    (int)(m->name_len > 64 ? 64 : m->name_len), (const char *)m->name);
		return false;
	}
	if (m->seqid != seqid) {
		bench_fail("%s %u: reply has seqid %" PRId32 ", expected %" PRId32, who, index,
		    m->seqid, seqid);
		return false;
	}
	if (opts.framing == BENCH_HEADER && m->header_seq != seqid) {
		bench_fail("%s %u: THeader reply has sequence number %" PRId32 ", expected %"
		    PRId32, who, index, m->header_seq, seqid);
		return false;
	}
	if (!m->has_value) {
		bench_fail("%s %u: seqid %" PRId32 ": reply without a result", who, index, seqid);
		return false;
	}
	if (m->value != expect) {
		bench_fail("%s %u: seqid %" PRId32 ": add returned %" PRId32 ", expected %" PRId32,
		    who, index, seqid, m->value, expect);
		return false;
	}
	return true;
}

/* --- sockets ---------------------------------------------------------------- */

/* A connected non-blocking socket; with --tls and tls set, after a handshake. */
static int
bench_connect(struct bench_tls **tls)
{
	int fd, one = 1;

	fd = socket(bench_addr->ai_family, bench_addr->ai_socktype | SOCK_CLOEXEC,
	    bench_addr->ai_protocol);
	if (fd < 0)
		return -1;
	if (connect(fd, bench_addr->ai_addr, bench_addr->ai_addrlen) != 0) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (opts.tls && tls != NULL && (*tls = bench_tls_handshake(fd)) == NULL) {
		close(fd);
		errno = EPROTO;
		return -1;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void
bench_raise_fd_limit(unsigned want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want)
		fprintf(stderr, "calcd-bench: warning: %u connections need %u file descriptors, "
		    "the limit is %llu\n", opts.conns + opts.idle, want,
		    (unsigned long long)rl.rlim_cur);
}

/* --- the load ---------------------------------------------------------------- */

/* Whether thread t may send another call: before the end, within its quota. */
static bool
bench_may_send(const struct bench_thread *t, uint64_t now)
{
	return now < t_end && (opts.calls == 0 || t->sent < t->quota);
}

/* Queue one more call on c. */
static void
bench_conn_queue(struct bench_thread *t, struct bench_conn *c, uint64_t now)
{
	struct bench_call	*call = &c->ring[(c->head + c->count) % opts.depth];
	int32_t			 a = bench_rand_arg(&t->rng), b = bench_rand_arg(&t->rng);

	if (c->out_off > 0) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	call->seqid = c->next_seqid++;
	call->expect = a + b;
	call->sent_ns = now;
	c->out_len += bench_encode_call(c->out + c->out_len, call->seqid, a, b);
	c->count++;
	t->inflight++;
	t->sent++;
}

static void
bench_conn_watch(struct bench_thread *t, struct bench_conn *c, bool out)
{
	struct epoll_event ev = { .events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c };

	if (out == c->want_out)
		return;
	if (epoll_ctl(t->ep, EPOLL_CTL_MOD, c->fd, &ev) != 0)
		bench_fail("connection %u: epoll_ctl: %s", c->index, strerror(errno));
	c->want_out = out;
}

/* Write what the socket takes; wait for EPOLLOUT for the rest. */
static void
bench_conn_flush(struct bench_thread *t, struct bench_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = c->tls != NULL ?
		    bench_tls_send(c->tls, c->out + c->out_off, c->out_len - c->out_off) :
		    send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

		if (n > 0) {
			c->out_off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		bench_fail("connection %u: send: %s", c->index, bench_tls_error());
		return;
	}
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	bench_conn_watch(t, c, c->out_len > 0);
}

/*
 * --handshakes: c's one call was answered (its reply ends at c->in + used):
 * close c and, while calls may be sent, connect again (with --tls, a full
 * handshake) and queue the next call.  Its latency counts from the connect.
 */
static void
bench_conn_cycle(struct bench_thread *t, struct bench_conn *c, size_t used)
{
	struct epoll_event	ev = { .events = EPOLLIN, .data.ptr = c };
	uint64_t		start;

	if (used != c->in_len) {
		bench_fail("connection %u: bytes after the reply to its only call", c->index);
		return;
	}
	bench_tls_close(c->tls);
	close(c->fd);
	c->tls = NULL;
	c->fd = -1;
	c->in_len = c->out_off = c->out_len = 0;
	c->want_out = false;
	start = bench_now();
	if (!bench_may_send(t, start))
		return;
	if ((c->fd = bench_connect(&c->tls)) < 0) {
		bench_fail("connection %u: connect to %s:%s: %s", c->index, opts.host, opts.port,
		    bench_tls_error());
		return;
	}
	if (epoll_ctl(t->ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
		bench_fail("connection %u: epoll_ctl: %s", c->index, strerror(errno));
		return;
	}
	bench_conn_queue(t, c, start);
}

/* Check every whole reply in c->in and answer each with a new call. */
static void
bench_conn_replies(struct bench_thread *t, struct bench_conn *c, uint64_t now)
{
	struct bench_reply	 m;
	const char		*why = NULL;
	size_t			 off = 0, used;
	bool			 measured = now >= t_measure && now < t_end;
	int			 rc;

	while (off < c->in_len) {
		struct bench_call *call;

		rc = bench_next_reply(c->in + off, c->in_len - off, &m, &used, &why);
		if (rc == RD_MORE)
			break;
		if (rc == RD_BAD) {
			bench_fail("connection %u: bad reply: %s", c->index, why);
			return;
		}
		if (c->count == 0) {
			bench_fail("connection %u: a reply (seqid %" PRId32 ") to no call",
			    c->index, m.seqid);
			return;
		}
		call = &c->ring[c->head];
		if (!bench_check("connection", c->index, &m, call->seqid, call->expect))
			return;
		if (measured) {
			t->hist[hist_index(now - call->sent_ns)]++;
			t->measured++;
		}
		t->checked++;
		c->head = (c->head + 1) % opts.depth;
		c->count--;
		t->inflight--;
		off += used;
		if (opts.handshakes) {
			bench_conn_cycle(t, c, off);
			return;
		}
		if (bench_may_send(t, now))
			bench_conn_queue(t, c, now);
	}
	if (off > 0) {
		memmove(c->in, c->in + off, c->in_len - off);
		c->in_len -= off;
	}
	if (c->in_len == c->in_cap)
		bench_fail("connection %u: a reply longer than %zu bytes", c->index, c->in_cap);
}

/*
 * Read what arrived and answer it.  In TLS, SSL_read may keep decrypted
 * bytes that epoll will not report: read again while it holds some.  What
 * is still in the socket, epoll (level-triggered) reports again.
 */
static void
bench_conn_read(struct bench_thread *t, struct bench_conn *c)
{
	ssize_t n;

	do {
		n = c->tls != NULL ?
		    bench_tls_recv(c->tls, c->in + c->in_len, c->in_cap - c->in_len) :
		    recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				break;
			bench_fail("connection %u: recv: %s (%u calls unanswered)", c->index,
			    bench_tls_error(), c->count);
			return;
		}
		if (n == 0) {
			bench_fail("connection %u: the server closed it with %u calls "
			    "unanswered", c->index, c->count);
			return;
		}
		c->in_len += (size_t)n;
		bench_conn_replies(t, c, bench_now());
	} while (c->tls != NULL && c->fd >= 0 && bench_tls_pending(c->tls) &&
	    !atomic_load_explicit(&bench_failed, memory_order_relaxed));
	if (!atomic_load_explicit(&bench_failed, memory_order_relaxed))
		bench_conn_flush(t, c);
}

static void *
bench_thread_main(void *arg)
{
	struct bench_thread	*t = arg;
	struct epoll_event	 evs[BENCH_EVENTS];
	uint64_t		 now = bench_now();

	for (unsigned i = 0; i < t->nconns; i++) {
		struct bench_conn *c = &t->conns[i];

		for (unsigned d = 0; d < opts.depth && bench_may_send(t, now); d++)
			bench_conn_queue(t, c, now);
		bench_conn_flush(t, c);
	}
	while (!atomic_load_explicit(&bench_failed, memory_order_relaxed)) {
		int n = epoll_wait(t->ep, evs, BENCH_EVENTS, 5);

		if (n < 0 && errno != EINTR) {
			bench_fail("epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			struct bench_conn *c = evs[i].data.ptr;

			if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				bench_conn_read(t, c);
			if ((evs[i].events & EPOLLOUT) && c->out_len > 0)
				bench_conn_flush(t, c);
		}
		now = bench_now();
		if (t->inflight == 0 && !bench_may_send(t, now))
			break;
		if (now >= t_drain) {
			for (unsigned i = 0; i < t->nconns; i++)
				if (t->conns[i].count > 0) {
					bench_fail("connection %u: %u calls got no reply within "
					    "%.1f s of the end", t->conns[i].index,
					    t->conns[i].count, opts.drain);
					break;
				}
			break;
		}
	}
	return NULL;
}

/* --- idle connections ------------------------------------------------------ */

/* Send one call on each idle connection in [from, to) and check every reply. */
static int
bench_idle_round(struct bench_idle *idle, unsigned from, unsigned to, int ep, uint64_t *rng,
    bool open)
{
	struct epoll_event	evs[BENCH_EVENTS];
	uint8_t			call[BENCH_MAX_CALL];
	unsigned		waiting = 0;
	uint64_t		deadline;

	for (unsigned i = from; i < to; i++) {
		struct bench_idle	*d = &idle[i];
		int32_t			 a = bench_rand_arg(rng), b = bench_rand_arg(rng);
		size_t			 len;

		if (open) {
			struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };

			if ((d->fd = bench_connect(NULL)) < 0) {
				bench_fail("idle connection %u: connect: %s", i, strerror(errno));
				return -1;
			}
			if (epoll_ctl(ep, EPOLL_CTL_ADD, d->fd, &ev) != 0) {
				bench_fail("idle connection %u: epoll_ctl: %s", i, strerror(errno));
				return -1;
			}
		}
		d->seqid++;
		d->expect = a + b;
		d->answered = false;
		len = bench_encode_call(call, d->seqid, a, b);
		if (send(d->fd, call, len, MSG_NOSIGNAL) != (ssize_t)len) {
			bench_fail("idle connection %u: send: %s", i,
			    strerror(errno ? errno : EAGAIN));
			return -1;
		}
		waiting++;
	}
	deadline = bench_now() + (uint64_t)(opts.drain * 1e9) + 10000000000u;
	while (waiting > 0) {
		int n = epoll_wait(ep, evs, BENCH_EVENTS, 100);

		if (n < 0 && errno != EINTR) {
			bench_fail("epoll_wait: %s", strerror(errno));
			return -1;
		}
		for (int k = 0; k < n; k++) {
			unsigned		 i = evs[k].data.u32;
			struct bench_idle	*d = &idle[i];
			struct bench_reply	 m;
			const char		*why = NULL;
			size_t			 used;
			ssize_t			 got;
			int			 rc;

			got = recv(d->fd, d->in + d->in_len, sizeof d->in - d->in_len, 0);
			if (got < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (got <= 0) {
				bench_fail("idle connection %u: %s", i, got == 0 ?
				    "the server closed it" : strerror(errno));
				return -1;
			}
			d->in_len = (uint8_t)(d->in_len + got);
			rc = bench_next_reply(d->in, d->in_len, &m, &used, &why);
			if (rc == RD_MORE && d->in_len < sizeof d->in)
				continue;
			if (rc != RD_OK || d->answered) {
				bench_fail("idle connection %u: bad reply: %s", i,
				    rc == RD_MORE ? "too long" : d->answered ?
				    "more than one reply" : why);
				return -1;
			}
			if (!bench_check("idle connection", i, &m, d->seqid, d->expect))
				return -1;
			if (used != d->in_len) {
				bench_fail("idle connection %u: bytes after its reply", i);
				return -1;
			}
			d->in_len = 0;
			d->answered = true;
			waiting--;
		}
		if (waiting > 0 && bench_now() > deadline) {
			for (unsigned i = from; i < to; i++)
				if (!idle[i].answered) {
					bench_fail("idle connection %u: no reply (%u of %u "
					    "unanswered)", i, waiting, to - from);
					break;
				}
			return -1;
		}
	}
	return 0;
}

static int
bench_idle_all(struct bench_idle *idle, int ep, uint64_t *rng, bool open)
{
	for (unsigned from = 0; from < opts.idle; from += BENCH_IDLE_BATCH) {
		unsigned to = from + BENCH_IDLE_BATCH < opts.idle ? from + BENCH_IDLE_BATCH :
		    opts.idle;

		if (bench_idle_round(idle, from, to, ep, rng, open) != 0)
			return -1;
	}
	return 0;
}

/* --- CPU time: the server's, this client's, everyone else's ------------------ */

/* One reading of every CPU-time source, at the start or the end of the measurement. */
struct bench_sample {
	double	server_ticks;	/* server utime + stime from /proc, s; -1 if unknown */
	double	server_clock;	/* server task-clock (perf), s; -1 if unavailable */
	double	self;		/* this process's CPU time (getrusage), s */
	double	busy_near;	/* /proc/stat busy time on the CPUs client and server may use */
	double	busy_all;	/* ... on every CPU */
	double	steal_all;	/* time the hypervisor gave to others, every CPU */
	bool	have_stat;
};

static int	*bench_perf_fds;	/* one task-clock counter per server thread */
static size_t	 bench_perf_count;
static char	 bench_perf_error[160];
static cpu_set_t bench_near_cpus;	/* client's affinity and the server's */

static long
bench_perf_event_open(struct perf_event_attr *attr, pid_t tid)
{
	return syscall(SYS_perf_event_open, attr, tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
}

static void
bench_perf_close(void)
{
	for (size_t i = 0; i < bench_perf_count; i++)
		close(bench_perf_fds[i]);
	free(bench_perf_fds);
	bench_perf_fds = NULL;
	bench_perf_count = 0;
}

/*
 * Count the server's task-clock, as `perf stat -e task-clock -p PID` does:
 * one counter per thread, inherited by threads started later.  0, or -1
 * with bench_perf_error saying why (then /proc ticks are used).
 */
static int
bench_perf_open(long pid)
{
	struct perf_event_attr	 attr;
	char			 path[64];
	struct dirent		*e;
	size_t			 cap = 0;
	DIR			*d;

	memset(&attr, 0, sizeof attr);
	attr.type = PERF_TYPE_SOFTWARE;
	attr.size = sizeof attr;
	attr.config = PERF_COUNT_SW_TASK_CLOCK;
	attr.inherit = 1;
	snprintf(path, sizeof path, "/proc/%ld/task", pid);
	if ((d = opendir(path)) == NULL) {
		snprintf(bench_perf_error, sizeof bench_perf_error, "%s: %s", path,
		    strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		long	 tid = strtol(e->d_name, NULL, 10);
		long	 fd;

		if (tid <= 0)
			continue;
		if (bench_perf_count == cap) {
			int *grown = realloc(bench_perf_fds, (cap ? cap * 2 : 16) * sizeof *grown);

			if (grown == NULL)
				break;
			bench_perf_fds = grown;
			cap = cap ? cap * 2 : 16;
		}
		if ((fd = bench_perf_event_open(&attr, (pid_t)tid)) < 0) {
			if (errno == ESRCH)	/* the thread just ended */
				continue;
			snprintf(bench_perf_error, sizeof bench_perf_error,
			    "perf_event_open(task-clock, thread %ld): %s", tid, strerror(errno));
			closedir(d);
			bench_perf_close();
			return -1;
		}
		bench_perf_fds[bench_perf_count++] = (int)fd;
	}
	closedir(d);
	if (bench_perf_count == 0) {
		snprintf(bench_perf_error, sizeof bench_perf_error, "no thread counted");
		bench_perf_close();
		return -1;
	}
	return 0;
}

/* The server's task-clock so far, in seconds; -1 if not counted. */
static double
bench_perf_read(void)
{
	uint64_t total = 0;

	if (bench_perf_count == 0)
		return -1;
	for (size_t i = 0; i < bench_perf_count; i++) {
		uint64_t v;

		if (read(bench_perf_fds[i], &v, sizeof v) != (ssize_t)sizeof v)
			return -1;
		total += v;
	}
	return (double)total / 1e9;
}

/* utime + stime in seconds; -1 if unknown. */
static double
bench_proc_cpu(long pid)
{
	char	 path[64], text[1024], *p;
	unsigned long long utime, stime;
	FILE	*f;
	size_t	 n;

	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(text, 1, sizeof text - 1, f);
	fclose(f);
	text[n] = '\0';
	/* Fields after the command name, which may hold spaces: state is field 3. */
	if ((p = strrchr(text, ')')) == NULL ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
	    &utime, &stime) != 2)
		return -1;
	return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* Resident set size in bytes; -1 if unknown. */
static double
bench_proc_rss(long pid)
{
	char		 path[64];
	unsigned long	 size, resident;
	FILE		*f;
	int		 got;

	snprintf(path, sizeof path, "/proc/%ld/statm", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	got = fscanf(f, "%lu %lu", &size, &resident);
	fclose(f);
	return got == 2 ? (double)resident * (double)sysconf(_SC_PAGESIZE) : -1;
}

static double
bench_self_cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* The CPUs this client and the server may run on: where others compete with them. */
static void
bench_near_init(long server_pid)
{
	cpu_set_t server;

	CPU_ZERO(&bench_near_cpus);
	if (sched_getaffinity(0, sizeof bench_near_cpus, &bench_near_cpus) != 0 ||
	    (server_pid > 0 && sched_getaffinity((pid_t)server_pid, sizeof server, &server) != 0)) {
		for (int i = 0; i < CPU_SETSIZE; i++)
			CPU_SET(i, &bench_near_cpus);
		return;
	}
	if (server_pid > 0)
		CPU_OR(&bench_near_cpus, &bench_near_cpus, &server);
}

/* The set of CPUs as a list, "1" or "0-3,6". */
static void
bench_cpu_list(const cpu_set_t *set, char *text, size_t len)
{
	long	online = sysconf(_SC_NPROCESSORS_CONF);
	size_t	used = 0;

	text[0] = '\0';
	for (int i = 0; i < online && i < CPU_SETSIZE; i++) {
		int j = i;

		if (!CPU_ISSET(i, set))
			continue;
		while (j + 1 < online && j + 1 < CPU_SETSIZE && CPU_ISSET(j + 1, set))
			j++;
		if (used < len)
			used += (size_t)snprintf(text + used, len - used, "%s%d", used ? "," : "", i);
		if (j > i && used < len)
			used += (size_t)snprintf(text + used, len - used, "-%d", j);
		i = j;
	}
}

/* Busy and stolen time from /proc/stat's per-CPU lines; false if unreadable. */
static bool
bench_proc_stat(struct bench_sample *s)
{
	char			 line[512];
	double			 hz = (double)sysconf(_SC_CLK_TCK);
	unsigned long long	 user, nice, system, idle, iowait, irq, softirq, steal;
	int			 cpu;
	FILE			*f;

	s->busy_near = s->busy_all = s->steal_all = 0;
	if ((f = fopen("/proc/stat", "r")) == NULL)
		return false;
	while (fgets(line, sizeof line, f) != NULL) {
		double busy;

		if (strncmp(line, "cpu", 3) != 0 || line[3] < '0' || line[3] > '9')
			continue;
		steal = 0;
		if (sscanf(line + 3, "%d %llu %llu %llu %llu %llu %llu %llu %llu", &cpu, &user,
		    &nice, &system, &idle, &iowait, &irq, &softirq, &steal) < 8)
			continue;
		/* guest time is counted in user already; idle and iowait are not busy */
		busy = (double)(user + nice + system + irq + softirq) / hz;
		s->busy_all += busy;
		s->steal_all += (double)steal / hz;
		if (cpu >= 0 && cpu < CPU_SETSIZE && CPU_ISSET(cpu, &bench_near_cpus))
			s->busy_near += busy;
	}
	fclose(f);
	return true;
}

static void
bench_sample_take(struct bench_sample *s)
{
	s->have_stat = bench_proc_stat(s);
	s->server_ticks = opts.server_pid > 0 ? bench_proc_cpu(opts.server_pid) : -1;
	s->server_clock = opts.server_pid > 0 ? bench_perf_read() : -1;
	s->self = bench_self_cpu();
}

/* What happened between two samples. */
struct bench_usage {
	double		 server;	/* server CPU, s; -1 if unknown */
	const char	*server_source;	/* "task-clock" or "proc-ticks" */
	double		 server_ticks;	/* the /proc figure, s; -1 if unknown */
	double		 self;
	double		 other_near;	/* others' CPU near client and server, s; -1 if unknown */
	double		 other_all;	/* others' CPU anywhere, s */
	double		 steal;
};

static void
bench_usage_of(const struct bench_sample *a, const struct bench_sample *b,
    struct bench_usage *u)
{
	double server;

	u->server_ticks = a->server_ticks >= 0 && b->server_ticks >= 0 ?
	    b->server_ticks - a->server_ticks : -1;
	if (a->server_clock >= 0 && b->server_clock >= 0) {
		u->server = b->server_clock - a->server_clock;
		u->server_source = "task-clock";
	} else {
		u->server = u->server_ticks;
		u->server_source = "proc-ticks";
	}
	u->self = b->self - a->self;
	u->other_near = u->other_all = u->steal = -1;
	if (!a->have_stat || !b->have_stat)
		return;
	server = opts.server_pid > 0 ? (u->server >= 0 ? u->server : 0) : 0;
	u->other_near = b->busy_near - a->busy_near - server - u->self;
	u->other_all = b->busy_all - a->busy_all - server - u->self;
	u->steal = b->steal_all - a->steal_all;
	/* /proc/stat counts whole ticks: a little below zero is rounding, kept as is */
}

/* --- command line ------------------------------------------------------------ */

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: calcd-bench [options]\n"
	    "  -H, --host HOST          server address (default 127.0.0.1)\n"
	    "  -p, --port PORT          server port (default 9090)\n"
	    "  -c, --connections N      connections carrying the load (default 1)\n"
	    "  -d, --depth D            calls in flight per connection, pipelined (default 1)\n"
	    "  -P, --protocol PROTO     binary (strict) or compact (default binary)\n"
	    "  -T, --transport TRANS    buffered, framed or header (THeader) (default\n"
	    "                           buffered)\n"
	    "  -t, --duration SECONDS   measured time (default 3)\n"
	    "  -w, --warmup SECONDS     unmeasured time before it (default 1)\n"
	    "  -n, --calls N            send exactly N calls, all measured, then stop;\n"
	    "                           -t is then a time limit, -w is ignored\n"
	    "  -j, --threads N          client threads (default 1)\n"
	    "  -i, --idle M             also hold M mostly idle connections (one call when\n"
	    "                           opened, one at the end)\n"
	    "  -s, --seed N             seed of the random arguments\n"
	    "      --tls                speak TLS (OpenSSL, TLS 1.2 or later); without\n"
	    "                           --ca the server's certificate is NOT verified\n"
	    "      --ca FILE            verify the server's certificate against these CAs\n"
	    "                           (PEM); it must name HOST\n"
	    "      --cert FILE          with --tls, present this client certificate (PEM,\n"
	    "                           chain after it) for mutual TLS\n"
	    "      --key FILE           its private key (default: in the --cert file)\n"
	    "      --handshakes         each connection carries one call, is closed and\n"
	    "                           opened again (with --tls: a full handshake each\n"
	    "                           time, no resumption): connections per second;\n"
	    "                           needs -d 1, the handshake blocks its thread\n"
	    "      --server-pid PID     report that process's CPU per call (perf task-clock,\n"
	    "                           else /proc ticks) and memory, and the CPU every\n"
	    "                           other process used meanwhile (/proc/stat)\n"
	    "      --drain SECONDS      how long replies may take after the end (default 5)\n"
	    "      --kv                 print one line of key=value results\n"
	    "      --free-port          print a TCP port free on HOST and exit\n"
	    "      --wait-ready SECONDS wait until HOST:PORT accepts connections, then exit\n"
	    "  -h, --help\n"
	    "Exit status: 0 if every call got its right reply, 1 otherwise, 2 for bad usage.\n");
}

static double
parse_seconds(const char *s, const char *what)
{
	char	*end;
	double	 v = strtod(s, &end);

	if (end == s || *end != '\0' || v < 0 || v > 86400) {
		fprintf(stderr, "calcd-bench: bad %s '%s'\n", what, s);
		exit(2);
	}
	return v;
}

static unsigned
parse_count(const char *s, const char *what, unsigned min, unsigned max)
{
	char		*end;
	unsigned long	 v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "calcd-bench: bad %s '%s' (%u to %u)\n", what, s, min, max);
		exit(2);
	}
	return (unsigned)v;
}

static int
bad_value(const char *what, const char *value)
{
	fprintf(stderr, "calcd-bench: bad %s '%s'\n", what, value);
	usage(stderr);
	return 2;
}

static int
bench_resolve(void)
{
	struct addrinfo	hints = { .ai_socktype = SOCK_STREAM };
	int		rc;

	if ((rc = getaddrinfo(opts.host, opts.port, &hints, &bench_addr)) != 0) {
		fprintf(stderr, "calcd-bench: %s:%s: %s\n", opts.host, opts.port,
		    gai_strerror(rc));
		return -1;
	}
	return 0;
}

static int
bench_free_port(void)
{
	struct sockaddr_storage	ss;
	socklen_t		len = sizeof ss;
	char			port[NI_MAXSERV];
	int			fd;

	opts.port = "0";
	if (bench_resolve() != 0)
		return 2;
	fd = socket(bench_addr->ai_family, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, bench_addr->ai_addr, bench_addr->ai_addrlen) != 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) != 0 ||
	    getnameinfo((struct sockaddr *)&ss, len, NULL, 0, port, sizeof port,
	    NI_NUMERICSERV) != 0) {
		fprintf(stderr, "calcd-bench: no free port: %s\n", strerror(errno));
		return 1;
	}
	close(fd);
	printf("%s\n", port);
	return 0;
}

static int
bench_wait_ready(double seconds)
{
	uint64_t deadline = bench_now() + (uint64_t)(seconds * 1e9);

	if (bench_resolve() != 0)
		return 2;
	for (;;) {
		struct bench_tls	*tls = NULL;
		int			 fd = bench_connect(&tls);

		if (fd >= 0) {
			bench_tls_close(tls);
			close(fd);
			return 0;
		}
		if (bench_now() > deadline) {
			fprintf(stderr, "calcd-bench: %s:%s not accepting after %.1f s: %s\n",
			    opts.host, opts.port, seconds, bench_tls_error());
			return 1;
		}
		usleep(20000);
	}
}

/* --- main ---------------------------------------------------------------------- */

static void
bench_report(double seconds, uint64_t calls, uint64_t checked, const uint64_t *hist,
    const struct bench_usage *u, double rss_before, double rss_idle)
{
	double	rate = seconds > 0 ? (double)calls / seconds : 0;
	double	p50 = hist_quantile(hist, calls, 0.50) / 1e3;
	double	p90 = hist_quantile(hist, calls, 0.90) / 1e3;
	double	p99 = hist_quantile(hist, calls, 0.99) / 1e3;
	double	p999 = hist_quantile(hist, calls, 0.999) / 1e3;
	double	max = 0, sum = 0;
	double	server_us = u->server >= 0 && calls > 0 ? u->server * 1e6 / (double)calls : -1;
	double	ticks_us = u->server_ticks >= 0 && calls > 0 ?
	    u->server_ticks * 1e6 / (double)calls : -1;
	double	client_us = calls > 0 ? u->self * 1e6 / (double)calls : -1;
	double	idle_bytes = opts.idle > 0 && rss_before >= 0 && rss_idle >= 0 ?
	    (rss_idle - rss_before) / opts.idle : -1;
	/* others' CPU as a percentage of one CPU; known only beside a server pid */
	bool	others = opts.server_pid > 0 && u->other_near > -1 && seconds > 0;
	double	near_pct = others ? u->other_near * 100 / seconds : -1;
	double	all_pct = others ? u->other_all * 100 / seconds : -1;
	double	steal_pct = others ? u->steal * 100 / seconds : -1;
	char	near[256], tls[256];

	bench_cpu_list(&bench_near_cpus, near, sizeof near);
	bench_tls_describe(tls, sizeof tls, opts.kv);
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		if (hist[i] > 0) {
			max = hist_value(i) / 1e3;
			sum += hist_value(i) * (double)hist[i];
		}
	if (opts.kv) {
		printf("ok=1 calls=%" PRIu64 " checked=%" PRIu64 " seconds=%.3f calls_per_s=%.0f "
		    "p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f "
		    "server_cpu_s=%.6f server_cpu_us_per_call=%.4f server_cpu_source=%s "
		    "server_cpu_ticks_us_per_call=%.4f client_cpu_us_per_call=%.4f "
		    "other_cpu_pct=%.1f other_cpu_all_pct=%.1f steal_pct=%.1f near_cpus=%s "
		    "idle=%u rss_before_kib=%.0f rss_idle_kib=%.0f rss_per_idle_conn_bytes=%.0f",
		    calls, checked, seconds, rate, p50, p90, p99, p999, max, u->server, server_us,
		    opts.server_pid > 0 ? u->server_source : "none", ticks_us, client_us,
		    near_pct, all_pct, steal_pct, near, opts.idle, rss_before / 1024,
		    rss_idle / 1024, idle_bytes);
		if (opts.tls)
			printf(" %s", tls);
		if (opts.handshakes)
			printf(" handshakes_per_s=%.0f server_cpu_us_per_handshake=%.4f", rate,
			    server_us);
		printf("\n");
		return;
	}
	printf("calcd-bench: %s:%s %s/%s, %u connection%s x depth %u, %u thread%s, ",
	    opts.host, opts.port, opts.proto == BENCH_BINARY ? "binary" : "compact",
	    bench_framing_name(), opts.conns, opts.conns == 1 ? "" : "s", opts.depth,
	    opts.threads, opts.threads == 1 ? "" : "s");
	if (opts.calls > 0)
		printf("%" PRIu64 " calls\n", opts.calls);
	else
		printf("%.1f s after %.1f s warm-up\n", opts.duration, opts.warmup);
	printf("  %" PRIu64 " calls in %.3f s: %.0f calls/s; all %" PRIu64 " replies right\n",
	    calls, seconds, rate, checked);
	if (opts.tls)
		printf("  TLS: %s\n", tls);
	if (opts.handshakes)
		printf("  one call per connection: %.0f connections%s/s; latency and CPU per call "
		    "are per connection\n", rate, opts.tls ? " (full TLS handshakes)" : "");
	printf("  latency us: p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  mean %.1f\n",
	    p50, p90, p99, p999, max, calls > 0 ? sum / (double)calls / 1e3 : 0.0);
	if (server_us >= 0)
		printf("  server pid %ld: %.3f s CPU = %.3f us per call (%s%s%s)\n",
		    opts.server_pid, u->server, server_us,
		    strcmp(u->server_source, "task-clock") == 0 ?
		    "perf task-clock" : "/proc ticks",
		    bench_perf_error[0] ? ": " : "", bench_perf_error);
	printf("  client: %.3f us CPU per call\n", client_us);
	if (others)
		printf("  other processes: %.1f %% of one CPU on CPU %s (where client and server "
		    "run), %.1f %% on all; steal %.1f %%\n", near_pct, near, all_pct, steal_pct);
	if (opts.idle > 0) {
		printf("  %u idle connections answered when opened and at the end", opts.idle);
		if (idle_bytes >= 0)
			printf("; server RSS %.0f KiB -> %.0f KiB = %.0f bytes per connection",
			    rss_before / 1024, rss_idle / 1024, idle_bytes);
		printf("\n");
	}
}

int
main(int argc, char **argv)
{
	enum { OPT_PID = 256, OPT_DRAIN, OPT_KV, OPT_FREE_PORT, OPT_WAIT_READY, OPT_TLS, OPT_CA,
	    OPT_CERT, OPT_KEY, OPT_HANDSHAKES };
	static const struct option longopts[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },
		{ "connections", required_argument, NULL, 'c' },
		{ "depth", required_argument, NULL, 'd' },
		{ "protocol", required_argument, NULL, 'P' },
		{ "transport", required_argument, NULL, 'T' },
		{ "duration", required_argument, NULL, 't' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "calls", required_argument, NULL, 'n' },
		{ "threads", required_argument, NULL, 'j' },
		{ "idle", required_argument, NULL, 'i' },
		{ "seed", required_argument, NULL, 's' },
		{ "server-pid", required_argument, NULL, OPT_PID },
		{ "drain", required_argument, NULL, OPT_DRAIN },
		{ "kv", no_argument, NULL, OPT_KV },
		{ "free-port", no_argument, NULL, OPT_FREE_PORT },
		{ "wait-ready", required_argument, NULL, OPT_WAIT_READY },
		{ "tls", no_argument, NULL, OPT_TLS },
		{ "ca", required_argument, NULL, OPT_CA },
		{ "cert", required_argument, NULL, OPT_CERT },
		{ "key", required_argument, NULL, OPT_KEY },
		{ "handshakes", no_argument, NULL, OPT_HANDSHAKES },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct bench_thread	*threads;
	struct bench_idle	*idle = NULL;
	uint64_t		*hist, calls = 0, checked = 0, sent = 0, rng, t0, t1 = 0;
	struct bench_sample	 before, after;
	struct bench_usage	 used;
	double			 rss_before = -1, rss_idle = -1;
	double			 wait_ready = -1;
	bool			 free_port = false;
	int			 ch, idle_ep = -1;

	opts.seed = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 20;
	while ((ch = getopt_long(argc, argv, "H:p:c:d:P:T:t:w:n:j:i:s:h", longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'H':
			opts.host = optarg;
			break;
		case 'p':
			opts.port = optarg;
			break;
		case 'c':
			opts.conns = parse_count(optarg, "connections", 1, 1000000);
			break;
		case 'd':
			opts.depth = parse_count(optarg, "depth", 1, 65536);
			break;
		case 'P':
			if (strcmp(optarg, "binary") == 0)
				opts.proto = BENCH_BINARY;
			else if (strcmp(optarg, "compact") == 0)
				opts.proto = BENCH_COMPACT;
			else
				return bad_value("protocol", optarg);
			break;
		case 'T':
			if (strcmp(optarg, "buffered") == 0)
				opts.framing = BENCH_BUFFERED;
			else if (strcmp(optarg, "framed") == 0)
				opts.framing = BENCH_FRAMED;
			else if (strcmp(optarg, "header") == 0)
				opts.framing = BENCH_HEADER;
			else
				return bad_value("transport", optarg);
			break;
		case 't':
			opts.duration = parse_seconds(optarg, "duration");
			break;
		case 'w':
			opts.warmup = parse_seconds(optarg, "warm-up");
			break;
		case 'n':
			opts.calls = parse_count(optarg, "calls", 1, UINT_MAX);
			break;
		case 'j':
			opts.threads = parse_count(optarg, "threads", 1, 256);
			break;
		case 'i':
			opts.idle = parse_count(optarg, "idle connections", 0, 1000000);
			break;
		case 's':
			opts.seed = strtoull(optarg, NULL, 0);
			break;
		case OPT_PID:
			opts.server_pid = (long)parse_count(optarg, "pid", 1, INT_MAX);
			break;
		case OPT_DRAIN:
			opts.drain = parse_seconds(optarg, "drain time");
			break;
		case OPT_KV:
			opts.kv = true;
			break;
		case OPT_FREE_PORT:
			free_port = true;
			break;
		case OPT_WAIT_READY:
			wait_ready = parse_seconds(optarg, "wait");
			break;
		case OPT_TLS:
			opts.tls = true;
			break;
		case OPT_CA:
			opts.tls_ca = optarg;
			break;
		case OPT_CERT:
			opts.tls_cert = optarg;
			break;
		case OPT_KEY:
			opts.tls_key = optarg;
			break;
		case OPT_HANDSHAKES:
			opts.handshakes = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (free_port)
		return bench_free_port();
	if (!opts.tls && (opts.tls_ca || opts.tls_cert || opts.tls_key)) {
		fprintf(stderr, "calcd-bench: --ca, --cert and --key need --tls\n");
		return 2;
	}
	if (opts.tls_key != NULL && opts.tls_cert == NULL) {
		fprintf(stderr, "calcd-bench: --key needs --cert\n");
		return 2;
	}
	if (opts.handshakes && opts.depth != 1) {
		fprintf(stderr, "calcd-bench: --handshakes makes one call per connection: -d 1\n");
		return 2;
	}
	if (opts.tls && opts.idle > 0) {
		fprintf(stderr, "calcd-bench: --idle is not implemented with --tls\n");
		return 2;
	}
	if (opts.tls) {
		char err[256];

		if (bench_tls_init(opts.tls_ca, opts.tls_cert, opts.tls_key, opts.host, err,
		    sizeof err) != 0) {
			fprintf(stderr, "calcd-bench: %s\n", err);
			return 2;
		}
	}
	if (wait_ready >= 0)
		return bench_wait_ready(wait_ready);
	if (opts.threads > opts.conns)
		opts.threads = opts.conns;
	if (bench_resolve() != 0)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	bench_raise_fd_limit(opts.conns + opts.idle + 16);
	rng = opts.seed | 1;
	if (opts.calls > 0)
		opts.warmup = 0;	/* every call counts, the duration is a time limit */
	bench_near_init(opts.server_pid);
	if (opts.server_pid > 0)
		(void)bench_perf_open(opts.server_pid);

	/* Idle connections first, each answered once, and the memory they cost. */
	if (opts.idle > 0) {
		if ((idle = calloc(opts.idle, sizeof *idle)) == NULL ||
		    (idle_ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
			fprintf(stderr, "calcd-bench: out of memory\n");
			return 1;
		}
		if (opts.server_pid > 0)
			rss_before = bench_proc_rss(opts.server_pid);
		if (bench_idle_all(idle, idle_ep, &rng, true) != 0)
			goto failed;
		if (opts.server_pid > 0) {
			/* Let the server settle what the last replies left behind. */
			usleep(200000);
			rss_idle = bench_proc_rss(opts.server_pid);
		}
	}

	if ((threads = calloc(opts.threads, sizeof *threads)) == NULL ||
	    (hist = calloc(HIST_BUCKETS, sizeof *hist)) == NULL) {
		fprintf(stderr, "calcd-bench: out of memory\n");
		return 1;
	}
	for (unsigned i = 0; i < opts.threads; i++) {
		struct bench_thread *t = &threads[i];

		t->index = i;
		t->rng = (opts.seed + 0x9E3779B97F4A7C15ULL * (i + 1)) | 1;
		t->nconns = opts.conns / opts.threads + (i < opts.conns % opts.threads);
		t->quota = opts.calls / opts.threads + (i < opts.calls % opts.threads);
		t->conns = calloc(t->nconns, sizeof *t->conns);
		t->hist = calloc(HIST_BUCKETS, sizeof *t->hist);
		if ((t->ep = epoll_create1(EPOLL_CLOEXEC)) < 0 || t->conns == NULL ||
		    t->hist == NULL) {
			fprintf(stderr, "calcd-bench: out of memory\n");
			return 1;
		}
	}
	for (unsigned k = 0; k < opts.conns; k++) {
		struct bench_thread	*t = &threads[k % opts.threads];
		struct bench_conn	*c = &t->conns[k / opts.threads];
		struct epoll_event	 ev = { .events = EPOLLIN, .data.ptr = c };

		c->index = k;
		c->next_seqid = (int32_t)(bench_rand(&rng) >> 40);
		c->ring = calloc(opts.depth, sizeof *c->ring);
		c->out_cap = (size_t)opts.depth * BENCH_MAX_CALL;
		c->in_cap = (size_t)opts.depth * 64 + 4096;
		c->out = malloc(c->out_cap);
		c->in = malloc(c->in_cap);
		if (c->ring == NULL || c->out == NULL || c->in == NULL) {
			fprintf(stderr, "calcd-bench: out of memory\n");
			return 1;
		}
		if ((c->fd = bench_connect(&c->tls)) < 0) {
			bench_fail("connection %u: connect to %s:%s: %s", k, opts.host, opts.port,
			    bench_tls_error());
			goto failed;
		}
		if (epoll_ctl(t->ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
			bench_fail("connection %u: epoll_ctl: %s", k, strerror(errno));
			goto failed;
		}
	}

	t0 = bench_now();
	t_measure = t0 + (uint64_t)(opts.warmup * 1e9);
	t_end = t_measure + (uint64_t)(opts.duration * 1e9);
	t_drain = t_end + (uint64_t)(opts.drain * 1e9);
	for (unsigned i = 0; i < opts.threads; i++)
		if (pthread_create(&threads[i].tid, NULL, bench_thread_main, &threads[i]) != 0) {
			bench_fail("cannot start a thread");
			goto failed;
		}
	bench_sleep_until(t_measure);
	bench_sample_take(&before);
	if (opts.calls == 0) {
		bench_sleep_until(t_end);
		bench_sample_take(&after);
		t1 = t_end;
	}
	for (unsigned i = 0; i < opts.threads; i++) {
		pthread_join(threads[i].tid, NULL);
		calls += threads[i].measured;
		checked += threads[i].checked;
		sent += threads[i].sent;
		for (unsigned b = 0; b < HIST_BUCKETS; b++)
			hist[b] += threads[i].hist[b];
	}
	if (opts.calls > 0) {
		/* the last thread is done: the measurement ends with the last reply */
		bench_sample_take(&after);
		t1 = bench_now();
	}
	if (atomic_load(&bench_failed))
		goto failed;
	if (opts.calls > 0 && (sent != opts.calls || calls != opts.calls)) {
		bench_fail("%" PRIu64 " of %" PRIu64 " calls answered within the %.1f s limit",
		    calls, opts.calls, opts.duration);
		goto failed;
	}
	/* The idle connections must still be served. */
	if (opts.idle > 0) {
		if (bench_idle_all(idle, idle_ep, &rng, false) != 0)
			goto failed;
		checked += 2 * (uint64_t)opts.idle;
	}
	if (calls == 0) {
		bench_fail("no reply arrived in the measured %.1f s", opts.duration);
		goto failed;
	}
	bench_usage_of(&before, &after, &used);
	bench_report((double)(t1 - t_measure) / 1e9, calls, checked, hist, &used, rss_before,
	    rss_idle);
	return 0;

failed:
	if (opts.kv)
		printf("ok=0\n");
	fprintf(stderr, "calcd-bench: FAILED: %s\n", bench_error_text);
	return 1;
}
