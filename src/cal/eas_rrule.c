/* cal/eas_rrule.c: ActiveSync Recurrence <-> RRULE (MS-ASCAL 2.2.2.38, activesync.md §4.5).
 * Only the rule itself: UNTIL values arrive already converted by cal/eas.c, which owns the
 * zones. A rule EAS cannot express is reported, never approximated; the caller flattens
 * the series. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <libical/ical.h>

#include "cal/eas.h"
#include "cal/eas_int.h"

enum {
    MAX_INTERVAL = 999,     /* EAS Interval is an unsignedShort; grommunio caps at 999 */
    MAX_OCCURRENCES = 9999, /* grommunio accepts 1-999; we are more lenient */
    ALL_DAYS = 127,
};

static size_t count_part(const short *part, size_t size)
{
    size_t n = 0;
    while (n < size && part[n] != ICAL_RECURRENCE_ARRAY_MAX) {
        n++;
    }
    return n;
}

/* libical 3.0 encodes a BYDAY entry as sign(pos) * (|pos| * 8 + weekday), weekday 1 = SU. */
static short encode_day(int weekday, int pos)
{
    int v = abs(pos) * 8 + weekday;
    return (short)(pos < 0 ? -v : v);
}

/* DayOfWeek bit of libical weekday w (1 = Sunday): 1 << (w - 1). */
static int day_bit(int w)
{
    return 1 << (w - 1);
}

/* Mask of the BYDAY entries (all without position), or -1 when one has a position. */
static int plain_mask(const struct icalrecurrencetype *r, size_t n)
{
    int mask = 0;
    for (size_t i = 0; i < n; i++) {
        if (icalrecurrencetype_day_position(r->by_day[i]) != 0) {
            return -1;
        }
        mask |= day_bit((int)icalrecurrencetype_day_day_of_week(r->by_day[i]));
    }
    return mask;
}

/* Sets type-3/6 fields from BYDAY (+ BYSETPOS); -1 when they do not fit. */
static int nth_from(const struct icalrecurrencetype *r,
                    size_t nday,
                    size_t npos,
                    struct cal_eas_recurrence *out)
{
    int week;
    int mask;
    if (nday == 1 && npos == 0) {
        int pos = icalrecurrencetype_day_position(r->by_day[0]);
        week = pos;
        mask = day_bit((int)icalrecurrencetype_day_day_of_week(r->by_day[0]));
    } else if (nday >= 1 && npos == 1) {
        mask = plain_mask(r, nday);
        week = r->by_set_pos[0];
    } else {
        return -1;
    }
    if (mask <= 0 || !(week == -1 || (week >= 1 && week <= 4))) {
        return -1;
    }
    out->day_of_week = mask;
    out->week_of_month = week == -1 ? 5 : week;
    out->present |= CAL_EAS_R_DAYOFWEEK | CAL_EAS_R_WEEKOFMONTH;
    return 0;
}

/* Types 2, 3, 5 and 6 from a MONTHLY or YEARLY rule in the month `month`; -1 when EAS
 * cannot say it. */
static int month_from(const struct icalrecurrencetype *r,
                      struct icaltimetype dtstart,
                      int month,
                      struct cal_eas_recurrence *out)
{
    size_t nday = count_part(r->by_day, ICAL_BY_DAY_SIZE);
    size_t nmday = count_part(r->by_month_day, ICAL_BY_MONTHDAY_SIZE);
    size_t nmonth = count_part(r->by_month, ICAL_BY_MONTH_SIZE);
    size_t npos = count_part(r->by_set_pos, ICAL_BY_SETPOS_SIZE);
    bool yearly = r->freq == ICAL_YEARLY_RECURRENCE;
    if (yearly && (month < 1 || month > 12)) {
        return -1;
    }
    if (!nday) {
        int d = nmday ? r->by_month_day[0] : dtstart.day;
        if (npos) {
            return -1;
        }
        if (d == -1) {
            /* the last day of the month: DayOfWeek 127 + WeekOfMonth 5 (§4.5) */
            out->type = yearly ? 6 : 3;
            out->day_of_week = ALL_DAYS;
            out->week_of_month = 5;
            out->present |= CAL_EAS_R_DAYOFWEEK | CAL_EAS_R_WEEKOFMONTH;
        } else if (d >= 1 && d <= 31) {
            out->type = yearly ? 5 : 2;
            out->day_of_month = d;
            out->present |= CAL_EAS_R_DAYOFMONTH;
        } else {
            return -1;
        }
    } else {
        if (nmday || nth_from(r, nday, npos, out) != 0) {
            return -1;
        }
        out->type = yearly ? 6 : 3;
    }
    if (yearly) {
        out->month_of_year = month;
        out->present |= CAL_EAS_R_MONTHOFYEAR;
    } else if (nmonth) {
        return -1;
    }
    return 0;
}

int cal_eas_recur_from_rrule(const struct icalrecurrencetype *r,
                             struct icaltimetype dtstart,
                             const char *until_str,
                             struct cal_eas_recurrence *out)
{
    memset(out, 0, sizeof(*out));
    size_t nday = count_part(r->by_day, ICAL_BY_DAY_SIZE);
    size_t nmday = count_part(r->by_month_day, ICAL_BY_MONTHDAY_SIZE);
    size_t nmonth = count_part(r->by_month, ICAL_BY_MONTH_SIZE);
    size_t npos = count_part(r->by_set_pos, ICAL_BY_SETPOS_SIZE);
    if (count_part(r->by_second, ICAL_BY_SECOND_SIZE) ||
        count_part(r->by_minute, ICAL_BY_MINUTE_SIZE) ||
        count_part(r->by_hour, ICAL_BY_HOUR_SIZE) ||
        count_part(r->by_year_day, ICAL_BY_YEARDAY_SIZE) ||
        count_part(r->by_week_no, ICAL_BY_WEEKNO_SIZE) || nmday > 1 || nmonth > 1 ||
        r->interval < 1 || r->interval > MAX_INTERVAL) {
        return -1;
    }
    if (nmonth == 1 && icalrecurrencetype_month_is_leap(r->by_month[0])) {
        return -1;
    }
    int month = nmonth ? r->by_month[0] : dtstart.month;
    switch (r->freq) {
    case ICAL_DAILY_RECURRENCE:
        if (nmday || nmonth || npos) {
            return -1;
        }
        if (nday) {
            /* FREQ=DAILY;BYDAY=MO,...,FR is a weekly rule to EAS (§4.5, Type 0 row) */
            int mask = plain_mask(r, nday);
            if (mask <= 0 || r->interval != 1) {
                return -1;
            }
            out->type = 1;
            out->day_of_week = mask;
            out->present |= CAL_EAS_R_DAYOFWEEK;
        } else {
            out->type = 0;
        }
        break;
    case ICAL_WEEKLY_RECURRENCE: {
        if (nmday || nmonth || npos) {
            return -1;
        }
        int mask = nday ? plain_mask(r, nday) : day_bit(icaltime_day_of_week(dtstart));
        if (mask <= 0) {
            return -1;
        }
        out->type = 1;
        out->day_of_week = mask;
        out->present |= CAL_EAS_R_DAYOFWEEK;
        break;
    }
    case ICAL_MONTHLY_RECURRENCE:
    case ICAL_YEARLY_RECURRENCE:
        if (month_from(r, dtstart, month, out) != 0) {
            return -1;
        }
        break;
    default:
        return -1; /* FREQ below DAILY, or none */
    }
    out->interval = r->interval;
    out->present |= CAL_EAS_R_INTERVAL;
    if (r->count > 0) {
        out->occurrences = r->count;
        out->present |= CAL_EAS_R_OCCURRENCES;
    } else if (until_str) {
        out->until = until_str;
        out->present |= CAL_EAS_R_UNTIL;
    }
    int wkst = (int)r->week_start;
    if (wkst >= ICAL_SUNDAY_WEEKDAY && wkst <= ICAL_SATURDAY_WEEKDAY) {
        out->first_day_of_week = wkst - 1;
        out->present |= CAL_EAS_R_FIRSTDAYOFWEEK;
    }
    return 0;
}

/* BYDAY entries of DayOfWeek `mask` at position `pos` (0 = none); returns how many. */
static size_t set_days(struct icalrecurrencetype *r, int mask, int pos)
{
    size_t n = 0;
    for (int w = ICAL_SUNDAY_WEEKDAY; w <= ICAL_SATURDAY_WEEKDAY; w++) {
        if (mask & day_bit(w)) {
            r->by_day[n++] = encode_day(w, pos);
        }
    }
    r->by_day[n] = ICAL_RECURRENCE_ARRAY_MAX;
    return n;
}

static int
need(const struct cal_eas_recurrence *rec, uint32_t bit, const char *name, struct err *err)
{
    if (!(rec->present & bit)) {
        return err_set(err, &cal_cond_eas_invalid, "Recurrence Type %d needs %s", rec->type, name);
    }
    return 0;
}

/* Type 3/6: the n-th weekday(s) of the month (§4.5). */
static int
nth_to(const struct cal_eas_recurrence *rec, struct icalrecurrencetype *r, struct err *err)
{
    if (need(rec, CAL_EAS_R_DAYOFWEEK, "DayOfWeek", err) ||
        need(rec, CAL_EAS_R_WEEKOFMONTH, "WeekOfMonth", err)) {
        return -1;
    }
    int week = rec->week_of_month;
    int mask = rec->day_of_week;
    if (week < 1 || week > 5) {
        return err_set(err, &cal_cond_eas_invalid, "Recurrence WeekOfMonth %d is not 1-5", week);
    }
    int pos = week == 5 ? -1 : week;
    if (mask == ALL_DAYS && week == 5) {
        r->by_month_day[0] = -1;
        r->by_month_day[1] = ICAL_RECURRENCE_ARRAY_MAX;
    } else if ((mask & (mask - 1)) == 0) {
        set_days(r, mask, pos);
    } else {
        set_days(r, mask, 0);
        r->by_set_pos[0] = (short)pos;
        r->by_set_pos[1] = ICAL_RECURRENCE_ARRAY_MAX;
    }
    return 0;
}

static int check_range(int v, int lo, int hi, const char *name, struct err *err)
{
    if (v < lo || v > hi) {
        return err_set(err, &cal_cond_eas_invalid, "Recurrence %s %d is not %d-%d", name, v, lo,
                       hi);
    }
    return 0;
}

/* The numbers of `rec` in their ranges, and a Gregorian calendar (§4.5). */
static int check_fields(const struct cal_eas_recurrence *rec, struct err *err)
{
    if ((rec->present & CAL_EAS_R_CALENDARTYPE) && rec->calendar_type != 0 &&
        rec->calendar_type != 1) {
        return err_set(err, &cal_cond_eas_invalid, "Recurrence CalendarType %d is not Gregorian",
                       rec->calendar_type);
    }
    if ((rec->present & CAL_EAS_R_ISLEAPMONTH) && rec->is_leap_month) {
        return err_set(err, &cal_cond_eas_invalid, "Recurrence IsLeapMonth is not Gregorian");
    }

    static const struct {
        uint32_t bit;
        size_t off;
        int lo, hi;
        const char *name;
    } ranges[] = {
        {CAL_EAS_R_INTERVAL, offsetof(struct cal_eas_recurrence, interval), 1, MAX_INTERVAL,
         "Interval"},
        {CAL_EAS_R_DAYOFWEEK, offsetof(struct cal_eas_recurrence, day_of_week), 1, ALL_DAYS,
         "DayOfWeek"},
        {CAL_EAS_R_DAYOFMONTH, offsetof(struct cal_eas_recurrence, day_of_month), 1, 31,
         "DayOfMonth"},
        {CAL_EAS_R_MONTHOFYEAR, offsetof(struct cal_eas_recurrence, month_of_year), 1, 12,
         "MonthOfYear"},
        {CAL_EAS_R_OCCURRENCES, offsetof(struct cal_eas_recurrence, occurrences), 1,
         MAX_OCCURRENCES, "Occurrences"},
        {CAL_EAS_R_FIRSTDAYOFWEEK, offsetof(struct cal_eas_recurrence, first_day_of_week), 0, 6,
         "FirstDayOfWeek"},
    };

    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
        const int *v = (const int *)(const void *)((const char *)rec + ranges[i].off);
        if ((rec->present & ranges[i].bit) &&
            check_range(*v, ranges[i].lo, ranges[i].hi, ranges[i].name, err)) {
            return -1;
        }
    }
    if ((rec->present & CAL_EAS_R_OCCURRENCES) && (rec->present & CAL_EAS_R_UNTIL)) {
        return err_set(err, &cal_cond_eas_invalid, "Recurrence has both Occurrences and Until");
    }
    return 0;
}

int cal_eas_recur_to_rrule(const struct cal_eas_recurrence *rec,
                           struct icaltimetype dtstart,
                           struct icaltimetype until,
                           struct icalrecurrencetype *r,
                           struct err *err)
{
    icalrecurrencetype_clear(r);
    if (check_fields(rec, err)) {
        return -1;
    }
    r->interval = (short)(rec->present & CAL_EAS_R_INTERVAL ? rec->interval : 1);
    switch (rec->type) {
    case 0:
        if ((rec->present & CAL_EAS_R_DAYOFWEEK) && rec->day_of_week != 0) {
            /* SOGo's Type 0 with DayOfWeek 62: every weekday (§4.5) */
            r->freq = ICAL_WEEKLY_RECURRENCE;
            set_days(r, rec->day_of_week, 0);
        } else {
            r->freq = ICAL_DAILY_RECURRENCE;
        }
        break;
    case 1:
        r->freq = ICAL_WEEKLY_RECURRENCE;
        if (rec->present & CAL_EAS_R_DAYOFWEEK) {
            set_days(r, rec->day_of_week, 0);
        }
        break;
    case 2:
        r->freq = ICAL_MONTHLY_RECURRENCE;
        r->by_month_day[0] =
            (short)(rec->present & CAL_EAS_R_DAYOFMONTH ? rec->day_of_month : dtstart.day);
        r->by_month_day[1] = ICAL_RECURRENCE_ARRAY_MAX;
        break;
    case 3:
        r->freq = ICAL_MONTHLY_RECURRENCE;
        if (nth_to(rec, r, err)) {
            return -1;
        }
        break;
    case 5:
    case 6:
        r->freq = ICAL_YEARLY_RECURRENCE;
        r->by_month[0] =
            (short)(rec->present & CAL_EAS_R_MONTHOFYEAR ? rec->month_of_year : dtstart.month);
        r->by_month[1] = ICAL_RECURRENCE_ARRAY_MAX;
        if (rec->type == 6) {
            if (nth_to(rec, r, err)) {
                return -1;
            }
        } else {
            r->by_month_day[0] =
                (short)(rec->present & CAL_EAS_R_DAYOFMONTH ? rec->day_of_month : dtstart.day);
            r->by_month_day[1] = ICAL_RECURRENCE_ARRAY_MAX;
        }
        break;
    default:
        return err_set(err, &cal_cond_eas_invalid, "Recurrence Type %d is not 0, 1, 2, 3, 5 or 6",
                       rec->type);
    }
    if (rec->present & CAL_EAS_R_OCCURRENCES) {
        r->count = rec->occurrences;
    } else if (rec->present & CAL_EAS_R_UNTIL) {
        r->until = until;
    }
    if (rec->present & CAL_EAS_R_FIRSTDAYOFWEEK) {
        r->week_start = (icalrecurrencetype_weekday)(rec->first_day_of_week + 1);
    }
    return 0;
}
