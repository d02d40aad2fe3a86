/*
 * calc: the calculator's arithmetic with overflow checks, and the bounded
 * log of calculations that getStruct reads.  The log is the one piece of
 * state shared by all worker threads, so it alone takes a lock, and
 * everything done under it takes constant time: a ring of the last
 * calculations, and a hash index from a key to the newest entry with it.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>

#include "calc.h"

static enum calc_status
calc_multiply(int32_t a, int32_t b, int32_t *result)
{
	return calc_fit_i32((int64_t)a * b, result);
}

static enum calc_status
calc_divide(int32_t a, int32_t b, int32_t *result)
{
	if (b == 0)
		return CALC_DIVIDE_BY_ZERO;
	return calc_fit_i32((int64_t)a / b, result);	/* INT32_MIN / -1 does not fit */
}

const char *
calc_status_text(enum calc_status status)
{
	switch (status) {
	case CALC_OK:			return "ok";
	case CALC_OVERFLOW:		return "integer overflow: the result does not fit in an i32";
	case CALC_DIVIDE_BY_ZERO:	return "Cannot divide by 0";
	case CALC_INVALID_OPERATION:	return "Invalid operation";
	}
	return "?";
}

/* --- the calculation log ------------------------------------------------- */

struct calc_log_entry {
	int32_t	key;
	int32_t	value;
};

static struct {
	pthread_mutex_t		 lock;
	struct calc_log_entry	*entries;	/* a ring, oldest overwritten first */
	unsigned		 capacity;
	unsigned		 count;
	unsigned		 next;
	/*
	 * Open addressing with linear probing, at most half full: for each
	 * key in the ring, 1 + the slot of its newest entry; 0 is empty.
	 */
	uint32_t		*index;
	uint32_t		 index_mask;
	uint64_t		 seed;		/* so peers can't pick colliding keys */
} calc_log = { .lock = PTHREAD_MUTEX_INITIALIZER };

static uint64_t
calc_log_new_seed(void)
{
	struct timespec	ts;
	uint64_t	seed;

	if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) == (ssize_t)sizeof seed)
		return seed;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_nsec << 32 ^ (uint64_t)ts.tv_sec ^ (uintptr_t)&ts;
}

/* The key's home position in the index (a keyed 64-bit mix). */
static uint32_t
calc_log_home(int32_t key)
{
	uint64_t x = (uint64_t)(uint32_t)key ^ calc_log.seed;

	x ^= x >> 33;
	x *= UINT64_C(0xff51afd7ed558ccd);
	x ^= x >> 33;
	x *= UINT64_C(0xc4ceb9fe1a85ec53);
	x ^= x >> 33;
	return (uint32_t)x & calc_log.index_mask;
}

static int32_t
calc_log_key_at(uint32_t pos)
{
	return calc_log.entries[calc_log.index[pos] - 1].key;
}

/* Where key is in the index, or the empty position where it would go. */
static uint32_t
calc_log_find(int32_t key)
{
	uint32_t pos = calc_log_home(key);

	while (calc_log.index[pos] != 0 && calc_log_key_at(pos) != key)
		pos = (pos + 1) & calc_log.index_mask;
	return pos;
}

/*
 * Empty index position pos.  Later entries of the same probe run move
 * back into the gap unless their home lies after it, so every key stays
 * reachable from its home without tombstones.
 */
static void
calc_log_unindex(uint32_t pos)
{
	uint32_t mask = calc_log.index_mask;

	for (uint32_t next = (pos + 1) & mask; calc_log.index[next] != 0;
	    next = (next + 1) & mask) {
		uint32_t home = calc_log_home(calc_log_key_at(next));

		/* Home cyclically within (pos, next]: it must stay where it is. */
		if (((next - home) & mask) < ((next - pos) & mask))
			continue;
		calc_log.index[pos] = calc_log.index[next];
		pos = next;
	}
	calc_log.index[pos] = 0;
}

int
calc_log_init(unsigned capacity)
{
	struct calc_log_entry	*entries;
	uint32_t		*index;
	size_t			 index_size = 2;

	if (capacity == 0 || capacity > UINT32_MAX / 4)
		return -1;
	while (index_size < 2 * (size_t)capacity)
		index_size *= 2;
	entries = calloc(capacity, sizeof *entries);
	index = calloc(index_size, sizeof *index);
	if (entries == NULL || index == NULL) {
		free(entries);
		free(index);
		return -1;
	}
	pthread_mutex_lock(&calc_log.lock);
	free(calc_log.entries);
	free(calc_log.index);
	calc_log.entries = entries;
	calc_log.index = index;
	calc_log.index_mask = (uint32_t)(index_size - 1);
	calc_log.seed = calc_log_new_seed();
	calc_log.capacity = capacity;
	calc_log.count = calc_log.next = 0;
	pthread_mutex_unlock(&calc_log.lock);
	return 0;
}

void
calc_log_free(void)
{
	pthread_mutex_lock(&calc_log.lock);
	free(calc_log.entries);
	free(calc_log.index);
	calc_log.entries = NULL;
	calc_log.index = NULL;
	calc_log.capacity = calc_log.count = calc_log.next = 0;
	pthread_mutex_unlock(&calc_log.lock);
}

static void
calc_log_put(int32_t key, int32_t value)
{
	unsigned slot;
	uint32_t pos;

	pthread_mutex_lock(&calc_log.lock);
	if (calc_log.capacity == 0) {
		pthread_mutex_unlock(&calc_log.lock);
		return;
	}
	slot = calc_log.next;
	if (calc_log.count == calc_log.capacity) {
		/* The oldest entry goes; its key with it, unless a newer entry has it. */
		pos = calc_log_find(calc_log.entries[slot].key);
		if (calc_log.index[pos] == slot + 1)
			calc_log_unindex(pos);
	} else {
		calc_log.count++;
	}
	calc_log.entries[slot].key = key;
	calc_log.entries[slot].value = value;
	calc_log.index[calc_log_find(key)] = slot + 1;
	calc_log.next = (slot + 1) % calc_log.capacity;
	pthread_mutex_unlock(&calc_log.lock);
}

bool
calc_log_get(int32_t key, struct calc_shared_struct *out)
{
	bool	found = false;
	int32_t	value = 0;

	pthread_mutex_lock(&calc_log.lock);
	if (calc_log.count != 0) {
		uint32_t pos = calc_log_find(key);

		if (calc_log.index[pos] != 0) {
			value = calc_log.entries[calc_log.index[pos] - 1].value;
			found = true;
		}
	}
	pthread_mutex_unlock(&calc_log.lock);
	if (found) {
		out->key = key;
		(void)snprintf(out->value, sizeof out->value, "%ld", (long)value);
	}
	return found;
}

enum calc_status
calc_calculate(int32_t logid, const struct calc_work *w, int32_t *result)
{
	enum calc_status status;

	switch (w->op) {
	case CALC_ADD:		status = calc_add(w->num1, w->num2, result); break;
	case CALC_SUBTRACT:	status = calc_subtract(w->num1, w->num2, result); break;
	case CALC_MULTIPLY:	status = calc_multiply(w->num1, w->num2, result); break;
	case CALC_DIVIDE:	status = calc_divide(w->num1, w->num2, result); break;
	default:		status = CALC_INVALID_OPERATION; break;
	}
	if (status == CALC_OK)
		calc_log_put(logid, *result);
	return status;
}
