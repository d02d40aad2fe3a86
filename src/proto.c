/*
 * proto: what the binary and compact codecs share — failure recording,
 * skipping under a nesting limit, the TApplicationException writer,
 * reply prefixes, and the text of types and peers' names for error
 * messages.
 */
#include <string.h>

#include "proto.h"
#include "proto_codec.h"

int
proto_skip_nested(const struct proto_ops *ops, struct proto_reader *r, uint8_t type,
    unsigned levels)
{
	unsigned	outer = r->max_depth;
	unsigned	limit = r->depth + (levels > PROTO_MAX_DEPTH_LIMIT ?
			    PROTO_MAX_DEPTH_LIMIT : levels);
	int		rc;

	r->max_depth = limit > PROTO_READER_DEPTH ? PROTO_READER_DEPTH : limit;
	rc = ops->skip(r, type);
	r->max_depth = outer;
	return rc;
}

int
proto_put_slow(struct proto_writer *w, const void *p, size_t n)
{
	if (w->failed || buf_append(w->out, p, n) != 0) {
		w->failed = true;
		return -1;
	}
	return 0;
}

const char *
proto_type_name(uint8_t type)
{
	switch (type) {
	case PROTO_T_STOP:	return "stop";
	case PROTO_T_BOOL:	return "bool";
	case PROTO_T_BYTE:	return "byte";
	case PROTO_T_DOUBLE:	return "double";
	case PROTO_T_I16:	return "i16";
	case PROTO_T_I32:	return "i32";
	case PROTO_T_I64:	return "i64";
	case PROTO_T_STRING:	return "string";
	case PROTO_T_STRUCT:	return "struct";
	case PROTO_T_MAP:	return "map";
	case PROTO_T_SET:	return "set";
	case PROTO_T_LIST:	return "list";
	case PROTO_T_UUID:	return "uuid";
	default:		return "unknown type";
	}
}

int
proto_write_app_exception(const struct proto_ops *ops, struct proto_writer *w,
    const struct proto_string *name, int32_t seqid, enum proto_app_error type,
    const char *text, size_t len)
{
	enum proto_codec codec = ops->codec;

	proto_codec_write_message_begin(codec, w, name, PROTO_EXCEPTION, seqid);
	proto_codec_write_struct_begin(codec, w);
	proto_codec_write_field_begin(codec, w, PROTO_T_STRING, 1);
	proto_codec_write_string(codec, w, text, len);
	proto_codec_write_field_begin(codec, w, PROTO_T_I32, 2);
	proto_codec_write_i32(codec, w, type);
	proto_codec_write_field_stop(codec, w);
	return proto_codec_write_struct_end(codec, w);
}

int
proto_prefix_init(enum proto_codec codec, struct proto_prefix *p, const char *name,
    size_t len, uint8_t message_type, uint8_t field_type, int16_t field_id)
{
	uint8_t			bytes[PROTO_PREFIX_MAX + 8], zero[5];
	/* limit == cap: the buffer fails rather than grows. */
	struct buf		b = { bytes, 0, sizeof bytes, sizeof bytes };
	struct proto_writer	w;
	struct proto_string	s = { (const uint8_t *)name, len };
	size_t			seqid_len = proto_codec_put_seqid(codec, zero, 0);

	memset(p, 0, sizeof *p);
	if (len > PROTO_PREFIX_MAX || field_type == PROTO_T_BOOL)
		return -1;
	proto_writer_init(&w, &b);
	proto_codec_write_message_begin(codec, &w, &s, message_type, 0);
	proto_codec_write_struct_begin(codec, &w);
	if (field_type != PROTO_T_STOP)
		proto_codec_write_field_begin(codec, &w, field_type, field_id);
	if (w.failed || b.len - seqid_len > PROTO_PREFIX_MAX)
		return -1;
	/* Where the message header has its seqid: binary after the name, compact before. */
	p->seqid_at = (uint8_t)(codec == PROTO_CODEC_BINARY ? 8 + len : 2);
	memcpy(p->image, bytes, p->seqid_at);
	memcpy(p->image + p->seqid_at, bytes + p->seqid_at + seqid_len,
	    b.len - p->seqid_at - seqid_len);
	p->len = (uint8_t)(b.len - seqid_len);
	if (codec == PROTO_CODEC_BINARY)
		memcpy(p->whole, bytes, b.len);	/* the seqid's 4 bytes are 0 */
	if (field_type != PROTO_T_STOP)
		p->field_id = field_id;	/* else 0, from the memset */
	return 0;
}

/*
 * Length of the well-formed UTF-8 character at p[0..len) (Unicode's table
 * of well-formed byte sequences: no overlong forms, no surrogates, nothing
 * past U+10FFFF), or 0 if none starts there.
 */
static size_t
proto_utf8_char(const uint8_t *p, size_t len)
{
	uint8_t	lo = 0x80, hi = 0xbf;
	size_t	n;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (p[0] == 0xe0)
		lo = 0xa0;
	else if (p[0] == 0xed)
		hi = 0x9f;
	else if (p[0] == 0xf0)
		lo = 0x90;
	else if (p[0] == 0xf4)
		hi = 0x8f;
	if (len < n || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

const char *
proto_text(const uint8_t *data, size_t len, char *out, size_t size)
{
	static const char	replacement[] = "\xef\xbf\xbd";	/* U+FFFD */
	static const char	cut[] = "...";
	size_t			limit, used = 0, total = 0, n, i;
	size_t			room;

	if (size == 0)
		return out;
	limit = size - 1;
	/* Does all of it fit?  Count no further than needed to tell. */
	for (i = 0; i < len && total <= limit; i += n) {
		n = proto_utf8_char(data + i, len - i);
		total += n == 0 || data[i] == 0 ? sizeof replacement - 1 : n;
		if (n == 0)
			n = 1;
	}
	room = total > limit ? (limit < sizeof cut - 1 ? 0 : limit - (sizeof cut - 1)) : limit;
	for (i = 0; i < len; i += n) {
		const uint8_t	*c = data + i;
		size_t		 clen = n = proto_utf8_char(data + i, len - i);

		if (n == 0 || data[i] == 0) {
			c = (const uint8_t *)replacement;
			clen = sizeof replacement - 1;
			n = 1;
		}
		if (clen > room - used)
			break;
		memcpy(out + used, c, clen);
		used += clen;
	}
	if (i < len && used + sizeof cut - 1 <= limit) {
		memcpy(out + used, cut, sizeof cut - 1);
		used += sizeof cut - 1;
	}
	out[used] = '\0';
	return out;
}
