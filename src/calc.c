/*
 * calc: the calculator's arithmetic with overflow checks, and the bounded
 * log of calculations that getStruct reads.  The log is the one piece of
 * state shared by all worker threads, so it alone takes a lock.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "calc.h"

/* An exact result as an i32, if it fits. */
static enum calc_status
calc_fit_i32(int64_t exact, int32_t *result)
{
	if (exact < INT32_MIN || exact > INT32_MAX)
		return CALC_OVERFLOW;
	*result = (int32_t)exact;
	return CALC_OK;
}

enum calc_status
calc_add(int32_t a, int32_t b, int32_t *result)
{
	return calc_fit_i32((int64_t)a + b, result);
}

enum calc_status
calc_subtract(int32_t a, int32_t b, int32_t *result)
{
	return calc_fit_i32((int64_t)a - b, result);
}

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

static struct {
	pthread_mutex_t		 lock;
	struct calc_shared_struct	*entries;	/* a ring, oldest overwritten first */
	unsigned		 capacity;
	unsigned		 count;
	unsigned		 next;
} calc_log = { .lock = PTHREAD_MUTEX_INITIALIZER };

int
calc_log_init(unsigned capacity)
{
	struct calc_shared_struct *entries;

	if (capacity == 0 || (entries = calloc(capacity, sizeof *entries)) == NULL)
		return -1;
	pthread_mutex_lock(&calc_log.lock);
	free(calc_log.entries);
	calc_log.entries = entries;
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
	calc_log.entries = NULL;
	calc_log.capacity = calc_log.count = calc_log.next = 0;
	pthread_mutex_unlock(&calc_log.lock);
}

static void
calc_log_put(int32_t key, int32_t value)
{
	struct calc_shared_struct entry = { .key = key };

	(void)snprintf(entry.value, sizeof entry.value, "%ld", (long)value);
	pthread_mutex_lock(&calc_log.lock);
	if (calc_log.capacity != 0) {
		calc_log.entries[calc_log.next] = entry;
		calc_log.next = (calc_log.next + 1) % calc_log.capacity;
		if (calc_log.count < calc_log.capacity)
			calc_log.count++;
	}
	pthread_mutex_unlock(&calc_log.lock);
}

bool
calc_log_get(int32_t key, struct calc_shared_struct *out)
{
	bool found = false;

	pthread_mutex_lock(&calc_log.lock);
	/* Newest first, so a logid used again answers with its latest result. */
	for (unsigned i = 1; i <= calc_log.count && !found; i++) {
		unsigned slot = (calc_log.next + calc_log.capacity - i) % calc_log.capacity;

		if (calc_log.entries[slot].key == key) {
			*out = calc_log.entries[slot];
			found = true;
		}
	}
	pthread_mutex_unlock(&calc_log.lock);
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
