/* eas/calmap_int.h: internals shared by the calendar mapping files of src/eas
 * (calmap_read.c, calmap_write.c, calmap_tz.c, calmap_rrule.c): zones as Timezone blobs,
 * Compact DateTime, and the Recurrence <-> RRULE map, in cal/edit.h's terms. */
#ifndef ALMANAC_EAS_CALMAP_INT_H
#define ALMANAC_EAS_CALMAP_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "cal/edit.h"
#include "eas/calmap.h"

/* The rules of `zone` (NULL: UTC) in force in `year`, named by `tzid` when it or the zone's
 * location is in the short list of Windows names. Never fails: a zone whose year does not
 * hold exactly one change each way is given as its offset at the end of the year. */
void eas_calmap_tz_from_zone(const struct cal_zone *zone,
                             const char *tzid,
                             int year,
                             struct eas_calmap_tz *out);

/* Equal offsets and transition rules; names are ignored (clients do, activesync.md §4.3). */
bool eas_calmap_tz_equal(const struct eas_calmap_tz *a, const struct eas_calmap_tz *b);

/* cal's builtin zone for an IANA name or a Windows name of the short list, or NULL
 * (UTC gives cal_zone_utc()). */
struct cal_zone *eas_calmap_builtin_zone(const char *tzid);

/* The B:Location children of `loc` as X-EAS-LOCATION's value (a JSON object of the strings
 * that are set, keyed by element name) in `arena`, or NULL when none is set. */
const char *eas_calmap_loc_to_json(const char *const loc[EAS_CALMAP_LOC_NFIELDS],
                                   struct arena *arena);

/* X-EAS-LOCATION's value back into `loc` (strings in `arena`); unknown keys are skipped and
 * parsing stops at the first malformed byte, keeping what came before. Returns how many
 * fields were set. */
size_t eas_calmap_loc_from_json(const char *json,
                                struct arena *arena,
                                const char *loc[EAS_CALMAP_LOC_NFIELDS]);

/* AttendeeType and AttendeeStatus of an ATTENDEE (activesync.md §4.7). */
int eas_calmap_attendee_type(const struct cal_prop *a);
int eas_calmap_attendee_status(const struct cal_prop *a);

/* Unix seconds `t` as Compact DateTime `YYYYMMDDTHHMMSSZ` in `arena`. */
const char *eas_calmap_compact(int64_t t, struct arena *arena);

/* Parses a Compact DateTime, MS-ASDTYPE dateTime (`YYYY-MM-DDTHH:MM:SS.sssZ`) or either
 * without `Z` (read as UTC), activesync.md §4.1. Returns 0 with *t_out, or -1. */
int eas_calmap_parse_time(const char *s, int64_t *t_out);

/* The Recurrence of `rule` for a series starting at local `dtstart` (DATE for all-day).
 * `until_str` is the UNTIL already written as Compact DateTime (or NULL). Returns 0, or -1
 * when EAS cannot express the rule (the series is then flattened). */
int eas_calmap_recur_from_rrule(const struct cal_rrule *rule,
                                struct cal_time dtstart,
                                const char *until_str,
                                struct eas_calmap_recurrence *out);

/* The RRULE of `rec` for a series starting at local `dtstart` (DATE for all-day) whose
 * UNTIL, if any (NULL: none), is `until` (already in DTSTART's form: DATE, or UTC DATE-TIME).
 * Returns 0, or -1 with eas_cond_calmap_invalid naming the bad Recurrence field. */
int eas_calmap_recur_to_rrule(const struct eas_calmap_recurrence *rec,
                              struct cal_time dtstart,
                              const struct cal_time *until,
                              struct cal_rrule *out,
                              struct err *err);

#endif
