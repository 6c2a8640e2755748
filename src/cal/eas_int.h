/* cal/eas_int.h: internals shared by the ActiveSync files of src/cal (cal/eas.c,
 * cal/eas_tz.c, cal/eas_rrule.c): zones as Timezone blobs, Compact DateTime, and the
 * Recurrence <-> RRULE map. Carries libical types, so it is never included outside src/cal. */
#ifndef ALMANAC_CAL_EAS_INT_H
#define ALMANAC_CAL_EAS_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <libical/ical.h>

#include "cal/eas.h"

/* The rules of `zone` (NULL: UTC) in force in `year`, named by `tzid` when it or the zone's
 * location is in the short list of Windows names. Never fails: a zone whose year does not
 * hold exactly one change each way is given as its offset at the end of the year. */
void cal_eas_tz_from_zone(icaltimezone *zone, const char *tzid, int year, struct cal_eas_tz *out);

/* Equal offsets and transition rules; names are ignored (clients do, activesync.md §4.3). */
bool cal_eas_tz_equal(const struct cal_eas_tz *a, const struct cal_eas_tz *b);

/* libical's builtin zone for an IANA name or a Windows name of the short list, or NULL
 * (UTC gives libical's UTC zone). */
icaltimezone *cal_eas_builtin_zone(const char *tzid);

/* The B:Location children of `loc` as X-EAS-LOCATION's value (a JSON object of the strings
 * that are set, keyed by element name) in `arena`, or NULL when none is set. */
const char *cal_eas_loc_to_json(const char *const loc[CAL_EAS_LOC_NFIELDS], struct arena *arena);

/* X-EAS-LOCATION's value back into `loc` (strings in `arena`); unknown keys are skipped and
 * parsing stops at the first malformed byte, keeping what came before. Returns how many
 * fields were set. */
size_t
cal_eas_loc_from_json(const char *json, struct arena *arena, const char *loc[CAL_EAS_LOC_NFIELDS]);

/* AttendeeType and AttendeeStatus of an ATTENDEE (activesync.md §4.7). */
int cal_eas_attendee_type(icalproperty *a);
int cal_eas_attendee_status(icalproperty *a);

/* Unix seconds `t` as Compact DateTime `YYYYMMDDTHHMMSSZ` in `arena`. */
const char *cal_eas_compact(int64_t t, struct arena *arena);

/* Parses a Compact DateTime, MS-ASDTYPE dateTime (`YYYY-MM-DDTHH:MM:SS.sssZ`) or either
 * without `Z` (read as UTC), activesync.md §4.1. Returns 0 with *t_out, or -1. */
int cal_eas_parse_time(const char *s, int64_t *t_out);

/* The Recurrence of `rule` for a series starting at local `dtstart` (DATE for all-day).
 * `until_str` is the UNTIL already written as Compact DateTime (or NULL). Returns 0, or -1
 * when EAS cannot express the rule (the series is then flattened). */
int cal_eas_recur_from_rrule(const struct icalrecurrencetype *rule,
                             struct icaltimetype dtstart,
                             const char *until_str,
                             struct cal_eas_recurrence *out);

/* The RRULE of `rec` for a series starting at local `dtstart` (DATE for all-day) whose
 * UNTIL, if any, is `until` (already in DTSTART's form: DATE, or UTC DATE-TIME). Returns 0,
 * or -1 with cal_cond_eas_invalid naming the bad Recurrence field. */
int cal_eas_recur_to_rrule(const struct cal_eas_recurrence *rec,
                           struct icaltimetype dtstart,
                           struct icaltimetype until,
                           struct icalrecurrencetype *out,
                           struct err *err);

#endif
