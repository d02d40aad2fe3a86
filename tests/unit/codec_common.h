/*
 * codec_common: what the unit tests that speak Thrift share — hex in and
 * out, readers over hex text, a Check runner, and a sample message through
 * every Thrift type that is written, read back, skipped and cut short with
 * any struct proto_ops.  codec_common.c has the code.
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

/* Decode hex text (whitespace ignored) into out; aborts the test on bad text. */
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
