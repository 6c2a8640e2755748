/* util/deadline.c: a per-thread deadline on the monotonic clock. */
#include "util/deadline.h"

#include "util/timeutil.h"

/* Monotonic microseconds at which this thread's current work must stop; 0 when unbounded. */
static _Thread_local int64_t deadline_at;

int64_t deadline_start(int64_t budget_us)
{
    int64_t saved = deadline_at;
    deadline_at = budget_us > 0 ? time_mono_us() + budget_us : 0;
    return saved;
}

void deadline_restore(int64_t saved)
{
    deadline_at = saved;
}

bool deadline_passed(void)
{
    return deadline_at != 0 && time_mono_us() >= deadline_at;
}
