/*
 * fuzz_scan: libFuzzer harness holding the unframed message-end finder
 * (scan.c and its halves) to the codecs, and calcd's unframed request
 * path fed in pieces to the same path fed whole.  Each input is four
 * bytes of settings, then the bytes of a connection:
 *
 *   byte 0   bit 0: compact (else binary); bit 1: the argument struct counts
 *            toward the depth (args_depth 1); bits 2-7: max_depth 0..63
 *   byte 1-2 max_message_size, big-endian (0: 1 MiB)
 *   byte 3   seed for where the input is cut into pieces
 *
 * The input is scanned whole and in pieces, and decoded by the codecs
 * (read_message_begin, dispatch's type check, skip of the argument
 * struct) and by dispatch_message.  It aborts when they disagree:
 *   - the codecs take n bytes: the scan says DONE at n, however fed;
 *   - the codecs refuse: the scan refuses for the same reason fed whole,
 *     and fed in pieces too, or sooner with "message exceeds
 *     max_message_size" once a lower bound on the length passes it;
 *   - the codecs want more: so does the scan, asking for no fewer bytes
 *     (or it has refused it as too big already);
 *   - every NEED_MORE asks for more than it has, never less than before,
 *     never more than the complete message turns out to be;
 *   - the bytes read stay within the input plus one token per call.
 * With args_depth 0 it also runs request_process over the input as a
 * connection does, whole and in the pieces, and aborts unless both
 * answer alike: the same result, consumed length, reply or error reply
 * (where the pieces are refused sooner as too big, both refusing is
 * enough; where dispatch refuses what the scan passes, the pieces may
 * be refused otherwise, or only once the message is complete).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "calc.h"
#include "dispatch.h"
#include "request.h"
#include "scan.h"

#define FUZZ_SETTINGS		4
#define FUZZ_MAX_PIECES		4096
#define FUZZ_TOKEN_MAX		10	/* the longest token the scan re-reads */

/*
 * dispatch_message's max_nesting_depth does not count its argument
 * struct, and counts from a calculate's Work, one level further down:
 * its results are compared with a scan as request.c makes one, with
 * args_depth 0 and max_depth that much higher.
 */
#define FUZZ_DISPATCH_ARGS_DEPTH	0
#define FUZZ_DISPATCH_SLACK		(DISPATCH_DEPTH - 1)

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct verdict {
	enum scan_status status;
	size_t		 length;	/* DONE */
	size_t		 need;		/* NEED_MORE */
	const char	*error;
};

static const char fuzz_exceeds[] = "message exceeds max_message_size";
static const char fuzz_too_deep[] = "nesting too deep";
static const char fuzz_overflow[] = "varint overflows 32 bits";

static void
fuzz_check(int ok)
{
	if (!ok)
		abort();
}

static int
fuzz_same_text(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static enum scan_status
fuzz_status(enum proto_status st)
{
	switch (st) {
	case PROTO_OK:		return SCAN_DONE;
	case PROTO_NEED_MORE:	return SCAN_NEED_MORE;
	case PROTO_BAD:		return SCAN_BAD;
	default:		return SCAN_TOO_BIG;
	}
}

/* An unframed message is held to max_message_size as transport_process holds it. */
static void
fuzz_limit_total(struct verdict *v, size_t max_size)
{
	if ((v->status == SCAN_DONE && v->length > max_size) ||
	    (v->status == SCAN_NEED_MORE && v->need > max_size)) {
		v->status = SCAN_TOO_BIG;
		v->error = fuzz_exceeds;
	}
}

/* The codecs on the whole input: header, message type, the argument struct skipped. */
static void
fuzz_codecs(const struct proto_ops *ops, const uint8_t *data, size_t len, size_t max_size,
    unsigned max_depth, unsigned args_depth, struct verdict *v)
{
	struct proto_reader	r;
	struct proto_string	name;
	uint8_t			type = 0;
	int32_t			seqid;

	/* Where the args struct doesn't count, everything in it may go one deeper. */
	proto_reader_init(&r, data, len, max_size, args_depth ? max_depth : max_depth + 1);
	if (ops->read_message_begin(&r, &name, &type, &seqid) == 0) {
		if (type < PROTO_CALL || type > PROTO_ONEWAY)
			proto_fail(&r, PROTO_BAD, "invalid message type");
		else
			ops->skip(&r, PROTO_T_STRUCT);
	}
	v->status = fuzz_status(r.status);
	v->length = r.status == PROTO_OK ? r.pos : 0;
	v->need = r.status == PROTO_NEED_MORE ? r.need : 0;
	v->error = r.error;
	fuzz_limit_total(v, max_size);
}

/* Scan input cut at cuts[0..ncuts) (increasing, the last the whole); checks every step. */
static void
fuzz_scan_pieces(struct scan *s, enum scan_protocol p, const uint8_t *data, size_t len,
    size_t max_size, unsigned max_depth, unsigned args_depth, const size_t *cuts,
    size_t ncuts, size_t *max_need, size_t *calls)
{
	scan_init(s, p, max_size, max_depth, args_depth);
	*max_need = 0;
	*calls = 0;
	for (size_t i = 0; i < ncuts; i++) {
		enum scan_status st = scan_continue(s, data, cuts[i]);

		(*calls)++;
		if (st != SCAN_NEED_MORE)
			break;
		fuzz_check(s->need > cuts[i]);		/* asks for what it lacks */
		fuzz_check(s->need >= *max_need);	/* and never for less than before */
		*max_need = s->need;
	}
	if (s->status == SCAN_DONE)
		fuzz_check(s->length <= len && *max_need <= s->length);
	if (s->status == SCAN_BAD || s->status == SCAN_TOO_BIG)
		fuzz_check(s->error != NULL);
	/* Each byte is read once, but for one partial token a call. */
	fuzz_check(s->examined <= (uint64_t)len + FUZZ_TOKEN_MAX * (*calls + 1));
	fuzz_check(s->steps <= 4 * ((uint64_t)len + *calls) + 16);
}

/* The scan fed in pieces against the scan fed whole. */
static void
fuzz_same_as_whole(const struct scan *piece, const struct scan *whole)
{
	if (piece->status == SCAN_TOO_BIG && fuzz_same_text(piece->error, fuzz_exceeds) &&
	    (whole->status == SCAN_BAD || whole->status == SCAN_TOO_BIG))
		return;		/* refused sooner: its least length passed the limit */
	fuzz_check(piece->status == whole->status);
	switch (whole->status) {
	case SCAN_DONE:
		fuzz_check(piece->length == whole->length);
		break;
	case SCAN_NEED_MORE:
		fuzz_check(piece->need == whole->need);
		break;
	default:
		fuzz_check(fuzz_same_text(piece->error, whole->error));
		break;
	}
}

/* The scan fed whole against a codec verdict; loose where dispatch reads more strictly. */
static void
fuzz_agree(const struct scan *s, const struct verdict *v, int strict)
{
	switch (v->status) {
	case SCAN_DONE:
		fuzz_check(s->status == SCAN_DONE && s->length == v->length);
		break;
	case SCAN_NEED_MORE:
		if (s->status == SCAN_TOO_BIG && fuzz_same_text(s->error, fuzz_exceeds))
			break;
		fuzz_check(s->status == SCAN_NEED_MORE && s->need >= v->need);
		break;
	default:
		if (!strict)
			break;
		fuzz_check(s->status == v->status && fuzz_same_text(s->error, v->error));
		break;
	}
}

/* What request_process made of a connection's input, and its reply or error reply. */
struct answer {
	enum proto_status	 status;
	size_t			 consumed;
	size_t			 need;
	const char		*error;
	size_t			 reply_len;
	uint8_t			 reply[2048];
	int			 reply_cut;	/* the reply passed sizeof reply */
};

/*
 * Feed data to request_process as conn does, the message so far each
 * time, at the lengths cuts[0..ncuts); record how it ended.
 */
static void
fuzz_request(const struct proto_ops *ops, const uint8_t *data, const size_t *cuts,
    size_t ncuts, const struct dispatch_limits *limits, struct buf *out, struct answer *a)
{
	struct transport	t = { .kind = TRANSPORT_BUFFERED, .proto = ops };
	struct request_result	res;

	memset(&res, 0, sizeof res);
	out->len = 0;
	for (size_t i = 0; i < ncuts; i++) {
		request_process(&t, data, cuts[i], limits, out, &res);
		if (res.status == PROTO_NEED_MORE) {
			fuzz_check(res.need > cuts[i] && out->len == 0 && t.scan != NULL);
			continue;
		}
		fuzz_check(t.scan == NULL);
		if (res.status == PROTO_OK)
			fuzz_check(res.consumed > 0 && res.consumed <= cuts[i]);
		break;
	}
	a->status = res.status;
	a->consumed = res.status == PROTO_OK ? res.consumed : 0;
	a->need = res.status == PROTO_NEED_MORE ? res.need : 0;
	a->error = res.error;
	if (res.status == PROTO_BAD || res.status == PROTO_TOO_BIG) {
		fuzz_check(out->len == 0);
		(void)request_error_reply(&res, out);
	}
	a->reply_cut = out->len > sizeof a->reply;
	a->reply_len = a->reply_cut ? sizeof a->reply : out->len;
	if (a->reply_len > 0)
		memcpy(a->reply, out->data, a->reply_len);
	transport_free(&t);
}

static int
fuzz_refused(enum proto_status st)
{
	return st == PROTO_BAD || st == PROTO_TOO_BIG;
}

/* The request fed in pieces against it fed whole. */
static void
fuzz_same_answer(const struct answer *piece, const struct answer *whole)
{
	/* Refused sooner: the least length the pieces showed passed the limit. */
	if (piece->status == PROTO_TOO_BIG && fuzz_same_text(piece->error, fuzz_exceeds) &&
	    fuzz_refused(whole->status))
		return;
	/*
	 * dispatch refused, whole, what the scan passes: the pieces are
	 * refused too, or, where the scan took over before those bytes
	 * came, not until the message is complete.
	 */
	if (whole->status == PROTO_BAD && (fuzz_same_text(whole->error, fuzz_too_deep) ||
	    fuzz_same_text(whole->error, fuzz_overflow)) &&
	    (fuzz_refused(piece->status) || piece->status == PROTO_NEED_MORE))
		return;
	fuzz_check(piece->status == whole->status);
	fuzz_check(piece->consumed == whole->consumed && piece->need == whole->need);
	fuzz_check((piece->error == NULL) == (whole->error == NULL));
	if (whole->error != NULL)
		fuzz_check(fuzz_same_text(piece->error, whole->error));
	fuzz_check(piece->reply_len == whole->reply_len && piece->reply_cut == whole->reply_cut);
	fuzz_check(memcmp(piece->reply, whole->reply, whole->reply_len) == 0);
}

static uint32_t
fuzz_rand(uint32_t *state)
{
	uint32_t x = *state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *state = x;
}

int
LLVMFuzzerTestOneInput(const uint8_t *input, size_t input_len)
{
	static int		 initialized;
	static struct buf	 out;
	static size_t		 cuts[FUZZ_MAX_PIECES];
	const struct proto_ops	*ops;
	struct dispatch_limits	 limits;
	struct dispatch_result	 res;
	struct verdict		 codecs, disp;
	struct scan		 whole, piece, server;
	struct answer		 ans_whole, ans_piece;
	enum scan_protocol	 p;
	const uint8_t		*data;
	unsigned		 max_depth, args_depth;
	size_t			 len, max_size, ncuts, max_need, calls;
	uint32_t		 seed;

	if (!initialized) {
		if (calc_log_init(64) != 0)
			abort();
		buf_init(&out, 1u << 22);
		initialized = 1;
	}
	if (input_len < FUZZ_SETTINGS)
		return 0;
	p = input[0] & 1 ? SCAN_COMPACT : SCAN_BINARY;
	ops = p == SCAN_COMPACT ? &proto_compact : &proto_binary;
	args_depth = (input[0] >> 1) & 1;
	max_depth = input[0] >> 2;
	max_size = (size_t)input[1] << 8 | input[2];
	if (max_size == 0)
		max_size = 1u << 20;
	seed = 0x9e3779b9u ^ input[3] ^ (uint32_t)input_len << 8;
	data = input + FUZZ_SETTINGS;
	len = input_len - FUZZ_SETTINGS;

	/* Whole, against the codecs. */
	scan_init(&whole, p, max_size, max_depth, args_depth);
	scan_continue(&whole, data, len);
	if (whole.status == SCAN_NEED_MORE)
		fuzz_check(whole.need > len);
	if (whole.status == SCAN_DONE)
		fuzz_check(whole.length <= len && whole.length <= max_size);
	fuzz_codecs(ops, data, len, max_size, max_depth, args_depth, &codecs);
	fuzz_agree(&whole, &codecs, 1);

	/* Against dispatch_message itself, scanned as request.c scans for it. */
	limits.max_message_size = max_size;
	limits.max_nesting_depth = max_depth;
	if (args_depth == FUZZ_DISPATCH_ARGS_DEPTH) {
		scan_init(&server, p, max_size, max_depth + FUZZ_DISPATCH_SLACK, args_depth);
		scan_continue(&server, data, len);
		out.len = 0;
		dispatch_message(ops, data, len, &limits, &out, &res);
		disp.status = fuzz_status(res.status);
		disp.length = res.status == PROTO_OK ? res.consumed : 0;
		disp.need = res.status == PROTO_NEED_MORE ? res.need : 0;
		disp.error = res.error;
		fuzz_limit_total(&disp, max_size);
		/*
		 * dispatch reads a compact i32 argument it knows with read_i32,
		 * which refuses a varint past 32 bits that skip passes over;
		 * and it refuses a value too deep for its method which the
		 * scan, allowing for a calculate's Work, passes.
		 */
		fuzz_agree(&server, &disp, !(p == SCAN_COMPACT &&
		    fuzz_same_text(disp.error, fuzz_overflow)) &&
		    !fuzz_same_text(disp.error, fuzz_too_deep));
	}

	/* In pieces of 1 to 16 bytes (up to FUZZ_MAX_PIECES), then the rest. */
	ncuts = 0;
	for (size_t at = 0; at < len && ncuts < FUZZ_MAX_PIECES - 1; ) {
		at += 1 + fuzz_rand(&seed) % 16;
		cuts[ncuts++] = at < len ? at : len;
	}
	cuts[ncuts++] = len;
	fuzz_scan_pieces(&piece, p, data, len, max_size, max_depth, args_depth, cuts, ncuts,
	    &max_need, &calls);
	fuzz_same_as_whole(&piece, &whole);

	/* calcd's request path, whole and in the same pieces. */
	if (args_depth == FUZZ_DISPATCH_ARGS_DEPTH) {
		fuzz_request(ops, data, &len, 1, &limits, &out, &ans_whole);
		fuzz_request(ops, data, cuts, ncuts, &limits, &out, &ans_piece);
		fuzz_same_answer(&ans_piece, &ans_whole);
	}

	/* A byte at a time. */
	if (len <= FUZZ_MAX_PIECES) {
		for (size_t i = 0; i <= len; i++)
			cuts[i] = i;
		fuzz_scan_pieces(&piece, p, data, len, max_size, max_depth, args_depth, cuts,
		    len + 1, &max_need, &calls);
		fuzz_same_as_whole(&piece, &whole);
	}

	/* In two, at a random point. */
	cuts[0] = len ? fuzz_rand(&seed) % (len + 1) : 0;
	cuts[1] = len;
	fuzz_scan_pieces(&piece, p, data, len, max_size, max_depth, args_depth, cuts, 2,
	    &max_need, &calls);
	fuzz_same_as_whole(&piece, &whole);
	return 0;
}
