/*
 * buf: a growable byte buffer with a hard capacity limit.  Used for
 * connection input/output backlogs and reply encoding; knows nothing of
 * sockets or Thrift.
 */
#ifndef CALCD_BUF_H
#define CALCD_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *data;
	size_t	 len;	/* bytes in use, starting at data[0] */
	size_t	 cap;	/* bytes allocated */
	size_t	 limit;	/* never grow beyond this many bytes */
};

void	buf_init(struct buf *, size_t limit);
void	buf_free(struct buf *);
/* Make room for n more bytes; -1 if that would pass the limit or malloc fails. */
int	buf_reserve(struct buf *, size_t n);
int	buf_append(struct buf *, const void *, size_t);
/* Drop the first n bytes (n <= len). */
void	buf_consume(struct buf *, size_t n);
/*
 * Release the memory of an empty buffer that grew past keep bytes.
 * Inline: called after every read and write, and mostly there is nothing
 * to release.
 */
static inline void
buf_shrink(struct buf *b, size_t keep)
{
	if (b->len == 0 && b->cap > keep)
		buf_free(b);
}

#endif
