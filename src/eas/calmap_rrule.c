/* eas/calmap_rrule.c: ActiveSync Recurrence <-> RRULE (MS-ASCAL 2.2.2.38, activesync.md
 * §4.5), on cal's struct cal_rrule. Only the rule itself: UNTIL values arrive already
 * converted by eas/calmap_read.c and calmap_write.c, which own the zones. A rule EAS cannot
 * express is reported, never approximated; the caller flattens the series. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "eas/calmap.h"
#include "eas/calmap_int.h"

enum {
    MAX_INTERVAL = 999,     /* EAS Interval is an unsignedShort; grommunio caps at 999 */
    MAX_OCCURRENCES = 9999, /* grommunio accepts 1-999; we are more lenient */
    ALL_DAYS = 127,
};

/* DayOfWeek bit of weekday w (0 = Sunday). */
static int day_bit(int w)
{
    return 1 << w;
}

/* Mask of the BYDAY entries (all without position), or -1 when one has a position. */
static int plain_mask(const struct cal_rrule *r)
{
    int mask = 0;
    for (size_t i = 0; i < r->nday; i++) {
        if (r->day[i].pos != 0) {
            return -1;
        }
        mask |= day_bit(r->day[i].weekday);
    }
    return mask;
}

/* Sets type-3/6 fields from BYDAY (+ BYSETPOS); -1 when they do not fit. */
static int nth_from(const struct cal_rrule *r, struct eas_calmap_recurrence *out)
{
    int week;
    int mask;
    if (r->nday == 1 && r->nsetpos == 0) {
        week = r->day[0].pos;
        mask = day_bit(r->day[0].weekday);
    } else if (r->nday >= 1 && r->nsetpos == 1) {
        mask = plain_mask(r);
        week = r->setpos[0];
    } else {
        return -1;
    }
    if (mask <= 0 || !(week == -1 || (week >= 1 && week <= 4))) {
        return -1;
    }
    out->day_of_week = mask;
    out->week_of_month = week == -1 ? 5 : week;
    out->present |= EAS_CALMAP_R_DAYOFWEEK | EAS_CALMAP_R_WEEKOFMONTH;
    return 0;
}

/* Types 2, 3, 5 and 6 from a MONTHLY or YEARLY rule in the month `month`; -1 when EAS
 * cannot say it. */
static int month_from(const struct cal_rrule *r,
                      struct cal_time dtstart,
                      int month,
                      struct eas_calmap_recurrence *out)
{
    bool yearly = r->freq == CAL_FREQ_YEARLY;
    if (yearly && (month < 1 || month > 12)) {
        return -1;
    }
    if (!r->nday) {
        int d = r->nmonthday ? r->monthday[0] : dtstart.day;
        if (r->nsetpos) {
            return -1;
        }
        if (d == -1) {
            /* the last day of the month: DayOfWeek 127 + WeekOfMonth 5 (§4.5) */
            out->type = yearly ? 6 : 3;
            out->day_of_week = ALL_DAYS;
            out->week_of_month = 5;
            out->present |= EAS_CALMAP_R_DAYOFWEEK | EAS_CALMAP_R_WEEKOFMONTH;
        } else if (d >= 1 && d <= 31) {
            out->type = yearly ? 5 : 2;
            out->day_of_month = d;
            out->present |= EAS_CALMAP_R_DAYOFMONTH;
        } else {
            return -1;
        }
    } else {
        if (r->nmonthday || nth_from(r, out) != 0) {
            return -1;
        }
        out->type = yearly ? 6 : 3;
    }
    if (yearly) {
        out->month_of_year = month;
        out->present |= EAS_CALMAP_R_MONTHOFYEAR;
    } else if (r->nmonth) {
        return -1;
    }
    return 0;
}

int eas_calmap_recur_from_rrule(const struct cal_rrule *r,
                                struct cal_time dtstart,
                                const char *until_str,
                                struct eas_calmap_recurrence *out)
{
    memset(out, 0, sizeof(*out));
    if (r->nother || r->nmonthday > 1 || r->nmonth > 1 || r->interval < 1 ||
        r->interval > MAX_INTERVAL) {
        return -1;
    }
    if (r->nmonth == 1 && r->leap_month) {
        return -1;
    }
    int month = r->nmonth ? r->month[0] : dtstart.month;
    switch (r->freq) {
    case CAL_FREQ_DAILY:
        if (r->nmonthday || r->nmonth || r->nsetpos) {
            return -1;
        }
        if (r->nday) {
            /* FREQ=DAILY;BYDAY=MO,...,FR is a weekly rule to EAS (§4.5, Type 0 row) */
            int mask = plain_mask(r);
            if (mask <= 0 || r->interval != 1) {
                return -1;
            }
            out->type = 1;
            out->day_of_week = mask;
            out->present |= EAS_CALMAP_R_DAYOFWEEK;
        } else {
            out->type = 0;
        }
        break;
    case CAL_FREQ_WEEKLY: {
        if (r->nmonthday || r->nmonth || r->nsetpos) {
            return -1;
        }
        int mask = r->nday ? plain_mask(r) : day_bit(cal_time_weekday(dtstart));
        if (mask <= 0) {
            return -1;
        }
        out->type = 1;
        out->day_of_week = mask;
        out->present |= EAS_CALMAP_R_DAYOFWEEK;
        break;
    }
    case CAL_FREQ_MONTHLY:
    case CAL_FREQ_YEARLY:
        if (month_from(r, dtstart, month, out) != 0) {
            return -1;
        }
        break;
    default:
        return -1; /* FREQ below DAILY, or none */
    }
    out->interval = r->interval;
    out->present |= EAS_CALMAP_R_INTERVAL;
    if (r->count > 0) {
        out->occurrences = r->count;
        out->present |= EAS_CALMAP_R_OCCURRENCES;
    } else if (until_str) {
        out->until = until_str;
        out->present |= EAS_CALMAP_R_UNTIL;
    }
    out->first_day_of_week = r->week_start;
    out->present |= EAS_CALMAP_R_FIRSTDAYOFWEEK;
    return 0;
}

/* BYDAY entries of DayOfWeek `mask` at position `pos` (0 = none); returns how many. */
static size_t set_days(struct cal_rrule *r, int mask, int pos)
{
    size_t n = 0;
    for (int w = 0; w <= 6; w++) {
        if (mask & day_bit(w)) {
            r->day[n].pos = pos;
            r->day[n].weekday = w;
            n++;
        }
    }
    r->nday = n;
    return n;
}

static int
need(const struct eas_calmap_recurrence *rec, uint32_t bit, const char *name, struct err *err)
{
    if (!(rec->present & bit)) {
        return err_set(err, &eas_cond_calmap_invalid, "Recurrence Type %d needs %s", rec->type,
                       name);
    }
    return 0;
}

/* Type 3/6: the n-th weekday(s) of the month (§4.5). */
static int nth_to(const struct eas_calmap_recurrence *rec, struct cal_rrule *r, struct err *err)
{
    if (need(rec, EAS_CALMAP_R_DAYOFWEEK, "DayOfWeek", err) ||
        need(rec, EAS_CALMAP_R_WEEKOFMONTH, "WeekOfMonth", err)) {
        return -1;
    }
    int week = rec->week_of_month;
    int mask = rec->day_of_week;
    if (week < 1 || week > 5) {
        return err_set(err, &eas_cond_calmap_invalid, "Recurrence WeekOfMonth %d is not 1-5", week);
    }
    int pos = week == 5 ? -1 : week;
    if (mask == ALL_DAYS && week == 5) {
        r->monthday[0] = -1;
        r->nmonthday = 1;
    } else if ((mask & (mask - 1)) == 0) {
        set_days(r, mask, pos);
    } else {
        set_days(r, mask, 0);
        r->setpos[0] = pos;
        r->nsetpos = 1;
    }
    return 0;
}

static int check_range(int v, int lo, int hi, const char *name, struct err *err)
{
    if (v < lo || v > hi) {
        return err_set(err, &eas_cond_calmap_invalid, "Recurrence %s %d is not %d-%d", name, v, lo,
                       hi);
    }
    return 0;
}

/* The numbers of `rec` in their ranges, and a Gregorian calendar (§4.5). */
static int check_fields(const struct eas_calmap_recurrence *rec, struct err *err)
{
    if ((rec->present & EAS_CALMAP_R_CALENDARTYPE) && rec->calendar_type != 0 &&
        rec->calendar_type != 1) {
        return err_set(err, &eas_cond_calmap_invalid, "Recurrence CalendarType %d is not Gregorian",
                       rec->calendar_type);
    }
    if ((rec->present & EAS_CALMAP_R_ISLEAPMONTH) && rec->is_leap_month) {
        return err_set(err, &eas_cond_calmap_invalid, "Recurrence IsLeapMonth is not Gregorian");
    }

    static const struct {
        uint32_t bit;
        size_t off;
        int lo, hi;
        const char *name;
    } ranges[] = {
        {EAS_CALMAP_R_INTERVAL, offsetof(struct eas_calmap_recurrence, interval), 1, MAX_INTERVAL,
         "Interval"},
        {EAS_CALMAP_R_DAYOFWEEK, offsetof(struct eas_calmap_recurrence, day_of_week), 1, ALL_DAYS,
         "DayOfWeek"},
        {EAS_CALMAP_R_DAYOFMONTH, offsetof(struct eas_calmap_recurrence, day_of_month), 1, 31,
         "DayOfMonth"},
        {EAS_CALMAP_R_MONTHOFYEAR, offsetof(struct eas_calmap_recurrence, month_of_year), 1, 12,
         "MonthOfYear"},
        {EAS_CALMAP_R_OCCURRENCES, offsetof(struct eas_calmap_recurrence, occurrences), 1,
         MAX_OCCURRENCES, "Occurrences"},
        {EAS_CALMAP_R_FIRSTDAYOFWEEK, offsetof(struct eas_calmap_recurrence, first_day_of_week), 0,
         6, "FirstDayOfWeek"},
    };

    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
        const int *v = (const int *)(const void *)((const char *)rec + ranges[i].off);
        if ((rec->present & ranges[i].bit) &&
            check_range(*v, ranges[i].lo, ranges[i].hi, ranges[i].name, err)) {
            return -1;
        }
    }
    if ((rec->present & EAS_CALMAP_R_OCCURRENCES) && (rec->present & EAS_CALMAP_R_UNTIL)) {
        return err_set(err, &eas_cond_calmap_invalid, "Recurrence has both Occurrences and Until");
    }
    return 0;
}

int eas_calmap_recur_to_rrule(const struct eas_calmap_recurrence *rec,
                              struct cal_time dtstart,
                              const struct cal_time *until,
                              struct cal_rrule *r,
                              struct err *err)
{
    cal_rrule_init(r);
    if (check_fields(rec, err)) {
        return -1;
    }
    r->interval = rec->present & EAS_CALMAP_R_INTERVAL ? rec->interval : 1;
    switch (rec->type) {
    case 0:
        if ((rec->present & EAS_CALMAP_R_DAYOFWEEK) && rec->day_of_week != 0) {
            /* SOGo's Type 0 with DayOfWeek 62: every weekday (§4.5) */
            r->freq = CAL_FREQ_WEEKLY;
            set_days(r, rec->day_of_week, 0);
        } else {
            r->freq = CAL_FREQ_DAILY;
        }
        break;
    case 1:
        r->freq = CAL_FREQ_WEEKLY;
        if (rec->present & EAS_CALMAP_R_DAYOFWEEK) {
            set_days(r, rec->day_of_week, 0);
        }
        break;
    case 2:
        r->freq = CAL_FREQ_MONTHLY;
        r->monthday[0] = rec->present & EAS_CALMAP_R_DAYOFMONTH ? rec->day_of_month : dtstart.day;
        r->nmonthday = 1;
        break;
    case 3:
        r->freq = CAL_FREQ_MONTHLY;
        if (nth_to(rec, r, err)) {
            return -1;
        }
        break;
    case 5:
    case 6:
        r->freq = CAL_FREQ_YEARLY;
        r->month[0] = rec->present & EAS_CALMAP_R_MONTHOFYEAR ? rec->month_of_year : dtstart.month;
        r->nmonth = 1;
        if (rec->type == 6) {
            if (nth_to(rec, r, err)) {
                return -1;
            }
        } else {
            r->monthday[0] =
                rec->present & EAS_CALMAP_R_DAYOFMONTH ? rec->day_of_month : dtstart.day;
            r->nmonthday = 1;
        }
        break;
    default:
        return err_set(err, &eas_cond_calmap_invalid,
                       "Recurrence Type %d is not 0, 1, 2, 3, 5 or 6", rec->type);
    }
    if (rec->present & EAS_CALMAP_R_OCCURRENCES) {
        r->count = rec->occurrences;
    } else if ((rec->present & EAS_CALMAP_R_UNTIL) && until) {
        r->has_until = true;
        r->until = *until;
    }
    if (rec->present & EAS_CALMAP_R_FIRSTDAYOFWEEK) {
        r->week_start = rec->first_day_of_week;
    }
    return 0;
}
