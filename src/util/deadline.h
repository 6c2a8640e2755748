/* util/deadline.h: the time budget of the piece of work a worker thread is doing for one
 * request. The HTTP layer sets it each time it hands a request to a route (headers, body,
 * building the answer, one chunk of a streamed answer) and clears it after; code whose work
 * depends on what a client sent (recurrence and time-zone expansion in src/cal, row loops of
 * streamed reports) asks deadline_passed() between steps and gives up with
 * err_cond_time_budget instead of spinning. A thread with no deadline set never expires, so
 * the admin CLI and unit tests run unbounded unless they set one. */
#ifndef ALMANAC_UTIL_DEADLINE_H
#define ALMANAC_UTIL_DEADLINE_H

#include <stdbool.h>
#include <stdint.h>

/* Sets this thread's deadline to `budget_us` microseconds from now (0: no deadline). Returns
 * the previous deadline, for deadline_restore(). */
int64_t deadline_start(int64_t budget_us);

/* Puts back a deadline deadline_start() returned (0 clears it). */
void deadline_restore(int64_t saved);

/* True once this thread's deadline has passed; false when none is set. About 20 ns. */
bool deadline_passed(void);

#endif
