/*
 * codec_common: what the unit tests that speak Thrift share — hex in and
 * out, readers over hex text, a Check runner; and for the codec tests a
 * small step language (a value as a list of codec calls) that one body
 * writes, reads back and cuts short with any struct proto_ops, plus a
 * sample message through every Thrift type.  codec_common.c has the code.
 */
#ifndef CALCD_TESTS_CODEC_COMMON_H
#define CALCD_TESTS_CODEC_COMMON_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "proto.h"

#define HEX_MAX			4096	/* bytes one hex literal may spell */
#define CODEC_MAX_SIZE		(1u << 20)
#define CODEC_MAX_DEPTH		32
#define CODEC_DEEP		100000	/* nesting that must fail cleanly */

/* --- hex ----------------------------------------------------------------- */

/*
 * Decode hex text into out; whitespace is ignored and "7a*300" is the
 * byte 7a 300 times.  Aborts the test on bad text or more than cap bytes.
 */
size_t		 hex_decode(const char *text, uint8_t *out, size_t cap);
/* data as hex for failure messages; long data is cut with "...". */
const char	*hex_format(const uint8_t *data, size_t len, char *out, size_t cap);

/* Assert that got[0..got_len) are exactly the bytes hex spells. */
#define ck_assert_hex(got, got_len, hex) do {				\
	uint8_t		 ckh_want_[HEX_MAX];				\
	char		 ckh_a_[1600], ckh_b_[1600];			\
	const uint8_t	*ckh_got_ = (const uint8_t *)(got);		\
	size_t		 ckh_gl_ = (got_len);				\
	size_t		 ckh_wl_ = hex_decode((hex), ckh_want_, sizeof ckh_want_); \
	ck_assert_msg(ckh_gl_ == ckh_wl_ &&				\
	    (ckh_wl_ == 0 || memcmp(ckh_got_, ckh_want_, ckh_wl_) == 0),	\
	    "bytes differ:\n  got  (%zu) %s\n  want (%zu) %s",		\
	    ckh_gl_, hex_format(ckh_got_, ckh_gl_, ckh_a_, sizeof ckh_a_),	\
	    ckh_wl_, hex_format(ckh_want_, ckh_wl_, ckh_b_, sizeof ckh_b_)); \
} while (0)

/* --- statuses -------------------------------------------------------------- */

const char	*status_name(enum proto_status);

#define ck_assert_status(got, want) do {				\
	enum proto_status ckst_g_ = (got), ckst_w_ = (want);		\
	ck_assert_msg(ckst_g_ == ckst_w_, "status %s, want %s",		\
	    status_name(ckst_g_), status_name(ckst_w_));		\
} while (0)

/* A reader failed the way it should: -1, the status, an error text if BAD/TOO_BIG. */
#define ck_assert_fails(r, rc, want) do {				\
	int ckf_rc_ = (rc);						\
	ck_assert_msg(ckf_rc_ == -1, "read returned %d, want -1", ckf_rc_); \
	ck_assert_status((r)->status, (want));				\
	if ((want) == PROTO_BAD || (want) == PROTO_TOO_BIG)		\
		ck_assert_msg((r)->error != NULL, "no error text with %s", \
		    status_name(want));					\
} while (0)

/* --- readers and writers --------------------------------------------------- */

/* Input bytes for a reader, spelled in hex. */
struct hexin {
	uint8_t	data[HEX_MAX];
	size_t	len;
};

/* Decode hex into in (zeroing the rest of it) and start r on it. */
void	reader_hex(struct proto_reader *r, struct hexin *in, const char *hex,
	    size_t max_size, unsigned max_depth);

/* A writer with its own buffer (don't move it once started). */
struct wfix {
	struct buf		buf;
	struct proto_writer	w;
};

void	wfix_init(struct wfix *, size_t limit);

struct proto_string pstr(const char *);
bool	pstr_eq(const struct proto_string *, const char *want);
/* The same bits (so -0.0 is not 0.0). */
bool	double_same(double, double);

/* Read a field header and check it; -1 (status left in r) if the read fails. */
int	codec_expect_field(const struct proto_ops *, struct proto_reader *,
	    uint8_t type, int16_t id);

/* --- steps: a value as the codec calls that write or read it --------------- */

enum codec_step_op {
	CODEC_STEP_DONE = 0,	/* ends a step list */
	CODEC_STEP_MESSAGE,	/* name s, type, seqid i */
	CODEC_STEP_STRUCT,	/* struct begin */
	CODEC_STEP_FIELD,	/* field header: type, id i */
	CODEC_STEP_STOP,	/* field stop and struct end */
	CODEC_STEP_LIST,	/* type (elements), count i */
	CODEC_STEP_SET,		/* type (elements), count i */
	CODEC_STEP_MAP,		/* type (keys), value_type, count i */
	CODEC_STEP_END,		/* container end (reading only: writers have none) */
	CODEC_STEP_BOOL,	/* i */
	CODEC_STEP_BYTE,	/* i */
	CODEC_STEP_I16,		/* i */
	CODEC_STEP_I32,		/* i */
	CODEC_STEP_I64,		/* i */
	CODEC_STEP_DOUBLE,	/* d */
	CODEC_STEP_STRING,	/* s, repeated `repeat` times if not 0 */
	CODEC_STEP_SKIP,	/* reading only: skip a value of type */
	CODEC_STEP_POS,		/* reading only: the reader is at byte i */
};

struct codec_step {
	enum codec_step_op	 op;
	uint8_t			 type;
	uint8_t			 value_type;
	bool			 any_types;	/* MAP: an empty map may drop its types */
	int64_t			 i;
	double			 d;
	const char		*s;
	unsigned		 repeat;
};

/* One step written with ops: the writer's return value. */
int	codec_write_step(const struct proto_ops *, struct proto_writer *,
	    const struct codec_step *);
/* Write steps up to CODEC_STEP_DONE into a fresh unlimited writer; asserts each said 0. */
/* Write the sample message (every type, nested, both bool forms); 0, or -1 if a write failed. */
int	codec_write_sample(const struct proto_ops *, struct proto_writer *);
void	codec_write_steps(const struct proto_ops *, struct wfix *, const struct codec_step *,
	    const char *what);
/*
 * Read one step: -1 if the codec's read failed (the status is in r);
 * otherwise the value read must be the step's (asserted) and it is 0.
 * Strings must point into the input, ending where the reader now is.
 */
int	codec_read_step(const struct proto_ops *, struct proto_reader *,
	    const struct codec_step *, const char *what);
/* The same read without looking at the value (for reads that must fail). */
int	codec_read_step_unchecked(const struct proto_ops *, struct proto_reader *,
	    const struct codec_step *);
/*
 * Read steps up to CODEC_STEP_DONE; the status at the first failed read
 * (PROTO_OK if every one went through, each value checked).
 */
enum proto_status codec_read_steps(const struct proto_ops *, struct proto_reader *,
	    const struct codec_step *, const char *what);

/*
 * Every proper prefix of data reads as NEED_MORE with steps, with a need
 * past the prefix and within the whole.
 */
void	codec_check_steps_cut_short(const struct proto_ops *, const struct codec_step *,
	    const uint8_t *data, size_t len, size_t max_size, const char *what);
/*
 * With a buffer limit short of the whole encoding, the step that passes it
 * says -1 and every later one too; nothing beyond the limit is written, and
 * what is written is the encoding's start.  At the full length all is written.
 */
void	codec_check_steps_write_limit(const struct proto_ops *, const struct codec_step *,
	    const char *what);

/* --- skipping and nesting ---------------------------------------------------- */

/* Build data = unit * n, inner, tail * n (for deeply nested values). */
uint8_t	*codec_nest(const char *unit_hex, const char *inner_hex, const char *tail_hex,
	    size_t n, size_t *len);
/*
 * Skip one value of type over n wrappers around inner with max_depth
 * CODEC_MAX_DEPTH: want_ok says whether it must succeed (consuming all)
 * or fail with PROTO_BAD.
 */
void	codec_check_nested_skip(const struct proto_ops *, uint8_t type,
	    const char *unit_hex, const char *inner_hex, const char *tail_hex, size_t n,
	    bool want_ok);
/* Once failed, a reader stays failed with the same status. */
void	codec_check_sticky(const struct proto_ops *, struct proto_reader *,
	    enum proto_status want);

/* --- the sample message: every type, every field-header form ---------------- */

/* Write the sample, read it back value by value and skip it whole. */
void	codec_check_roundtrip(const struct proto_ops *);
/*
 * Every proper prefix of the sample reads as NEED_MORE, both value by
 * value and by skipping, with need past the prefix and within the whole.
 */
void	codec_check_truncation(const struct proto_ops *);
/* With a buffer limit short of the sample every write path fails cleanly. */
void	codec_check_write_limit(const struct proto_ops *);

/* --- running ------------------------------------------------------------------ */

/* Run a suite; the exit status says whether everything passed. */
int	codec_run_suite(Suite *);

#endif
