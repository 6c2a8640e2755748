/* eas/calmap.h: iCalendar <-> Exchange ActiveSync calendar items (MS-ASCAL, MS-ASDTYPE;
 * activesync.md §4), on cal's editing API (cal/edit.h). One stored calendar object resource
 * (master VEVENT + overrides) is one EAS item. Every EAS value here is a string or an
 * integer in its wire format (Compact DateTime `20240312T080000Z`, Timezone = base64 of the
 * 172-byte TIME_ZONE_INFORMATION), so eas/item.c writes them verbatim and never sees
 * iCalendar. Any worker thread, once cal_init() has run; nothing is kept between calls. */
#ifndef ALMANAC_EAS_CALMAP_H
#define ALMANAC_EAS_CALMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cal/cal.h"
#include "eas/wbxml.h" /* the eas layer's conditions */
#include "util/arena.h"
#include "util/err.h"
#include "util/slice.h"

enum {
    EAS_CALMAP_MAX_EXCEPTIONS = 256,   /* MS-ASCAL 2.2.2.20: Exception elements per item; a series
                                       with more is flattened (activesync.md §4.6) */
    EAS_CALMAP_TZ_BLOB_LEN = 172,      /* TIME_ZONE_INFORMATION, MS-ASDTYPE 2.7.6 */
    EAS_CALMAP_MAX_UID = 300,          /* MS-ASCAL 2.2.2.46 */
    EAS_CALMAP_MAX_REMINDER = 5256000, /* minutes (10 years): Reminder is an unsignedInt, but
                                       TRIGGER seconds must fit an int */
};

/* One bit per top-level Calendar property: presence in client data (struct eas_calmap_event
 * .present) and the ghosting mask (keep_absent). The same bits mark the overriding fields
 * of an exception (struct eas_calmap_exception .present). */
enum eas_calmap_field {
    EAS_CALMAP_TIMEZONE = 1u << 0,
    EAS_CALMAP_ALLDAY = 1u << 1,
    EAS_CALMAP_BUSYSTATUS = 1u << 2,
    EAS_CALMAP_ORGANIZER = 1u << 3, /* OrganizerName + OrganizerEmail */
    EAS_CALMAP_DTSTAMP = 1u << 4,
    EAS_CALMAP_ENDTIME = 1u << 5,
    EAS_CALMAP_LOCATION = 1u << 6,
    EAS_CALMAP_REMINDER = 1u << 7,
    EAS_CALMAP_SENSITIVITY = 1u << 8,
    EAS_CALMAP_SUBJECT = 1u << 9,
    EAS_CALMAP_STARTTIME = 1u << 10,
    EAS_CALMAP_UID = 1u << 11,
    EAS_CALMAP_MEETINGSTATUS = 1u << 12,
    EAS_CALMAP_ATTENDEES = 1u << 13,
    EAS_CALMAP_CATEGORIES = 1u << 14,
    EAS_CALMAP_RECURRENCE = 1u << 15,
    EAS_CALMAP_EXCEPTIONS = 1u << 16,
    EAS_CALMAP_BODY = 1u << 17,
    EAS_CALMAP_RESPONSEREQUESTED = 1u << 18,
    EAS_CALMAP_DISALLOWNEWTIMEPROPOSAL = 1u << 19,
    EAS_CALMAP_RESPONSETYPE = 1u << 20,         /* S->C only; ignored on input */
    EAS_CALMAP_APPOINTMENTREPLYTIME = 1u << 21, /* S->C only; ignored on input */
    EAS_CALMAP_ALL = (1u << 22) - 1,
};

/* The 16.x B:Location children (MS-ASAIRS 2.2.2.27) that iCalendar has no property for, in
 * element order; they are kept in X-EAS-LOCATION. Accuracy, Altitude and AltitudeAccuracy are
 * doubles (checked on input); the rest are strings. */
enum eas_calmap_loc_field {
    EAS_CALMAP_LOC_ANNOTATION,
    EAS_CALMAP_LOC_STREET,
    EAS_CALMAP_LOC_CITY,
    EAS_CALMAP_LOC_STATE,
    EAS_CALMAP_LOC_COUNTRY,
    EAS_CALMAP_LOC_POSTALCODE,
    EAS_CALMAP_LOC_ACCURACY,
    EAS_CALMAP_LOC_ALTITUDE,
    EAS_CALMAP_LOC_ALTITUDEACCURACY,
    EAS_CALMAP_LOC_NFIELDS,
};

/* The element name of a B:Location child (also its key in X-EAS-LOCATION). */
const char *eas_calmap_loc_name(enum eas_calmap_loc_field f);

/* AttendeeStatus (MS-ASCAL 2.2.2.4) and AttendeeType (2.2.2.5). */
enum eas_calmap_attendee_status {
    EAS_CALMAP_STATUS_UNKNOWN = 0,
    EAS_CALMAP_STATUS_TENTATIVE = 2,
    EAS_CALMAP_STATUS_ACCEPTED = 3,
    EAS_CALMAP_STATUS_DECLINED = 4,
    EAS_CALMAP_STATUS_NOT_RESPONDED = 5,
};

enum eas_calmap_attendee_type {
    EAS_CALMAP_TYPE_REQUIRED = 1,
    EAS_CALMAP_TYPE_OPTIONAL = 2,
    EAS_CALMAP_TYPE_RESOURCE = 3,
};

struct eas_calmap_attendee {
    const char *email; /* without "mailto:"; may be "" */
    const char *name;  /* CN, or NULL */
    int status;        /* enum eas_calmap_attendee_status; 0 when not sent (12.0+ element) */
    int type;          /* enum eas_calmap_attendee_type; 0 when not sent */
};

/* Presence bits of struct eas_calmap_recurrence (Type is required and has none). */
enum eas_calmap_recur_field {
    EAS_CALMAP_R_INTERVAL = 1u << 0,
    EAS_CALMAP_R_UNTIL = 1u << 1,
    EAS_CALMAP_R_OCCURRENCES = 1u << 2,
    EAS_CALMAP_R_DAYOFWEEK = 1u << 3,
    EAS_CALMAP_R_DAYOFMONTH = 1u << 4,
    EAS_CALMAP_R_WEEKOFMONTH = 1u << 5,
    EAS_CALMAP_R_MONTHOFYEAR = 1u << 6,
    EAS_CALMAP_R_FIRSTDAYOFWEEK = 1u << 7, /* 14.1+ */
    EAS_CALMAP_R_CALENDARTYPE = 1u << 8,   /* 14.0+ */
    EAS_CALMAP_R_ISLEAPMONTH = 1u << 9,    /* 14.0+ */
};

/* Recurrence (MS-ASCAL 2.2.2.38; activesync.md §4.5). Type: 0 daily, 1 weekly, 2 monthly
 * on day, 3 monthly on the n-th weekday, 5 yearly on date, 6 yearly on the n-th weekday. */
struct eas_calmap_recurrence {
    uint32_t present;      /* enum eas_calmap_recur_field */
    int type;              /* always set */
    int interval;          /* >= 1 */
    const char *until;     /* Compact DateTime (UTC; all-day: see §4.4) */
    int occurrences;       /* COUNT, >= 1 */
    int day_of_week;       /* bits: 1 Sunday, 2 Monday, ... 64 Saturday */
    int day_of_month;      /* 1-31 (127+WeekOfMonth 5 uses day_of_week) */
    int week_of_month;     /* 1-5, 5 = last */
    int month_of_year;     /* 1-12 */
    int first_day_of_week; /* 0 Sunday .. 6 Saturday <-> WKST */
    int calendar_type;     /* 0/1 Gregorian; anything else is refused on input */
    bool is_leap_month;    /* refused (non-Gregorian) when true on input */
};

/* One Exception (MS-ASCAL 2.2.2.21): a deleted instance (EXDATE, or an override with
 * STATUS:CANCELLED) or a modified one (an override, RECURRENCE-ID). `present` holds enum
 * eas_calmap_field bits of the fields set below; an absent field inherits the master. Out of
 * eas_calmap_from_ical() a modified instance always has STARTTIME and ENDTIME and only the
 * other fields that differ from the master. */
struct eas_calmap_exception {
    uint32_t present;
    bool deleted;
    const char *exception_start_time; /* original start, Compact DateTime (16.x: InstanceId) */
    const char *start_time;
    const char *end_time;
    const char *dtstamp;
    const char *subject;
    const char *location;
    const char *body; /* plain text */
    bool all_day;
    int busy_status;
    int sensitivity;
    int reminder; /* minutes before start */
    int meeting_status;
    const struct eas_calmap_attendee *attendees;
    size_t nattendees;
    const char *const *categories;
    size_t ncategories;
};

/* One calendar item. Strings are UTF-8 and NUL-terminated; out of eas_calmap_from_ical() they
 * live in the caller's arena; into eas_calmap_to_ical() they are borrowed. A field is
 * meaningful only when its bit is in `present`. */
struct eas_calmap_event {
    uint32_t present;     /* enum eas_calmap_field */
    const char *timezone; /* base64 of the 172-byte blob */
    bool all_day;
    int busy_status; /* 0 free, 1 tentative, 2 busy, 3 out of office, 4 working elsewhere */
    const char *organizer_name;  /* CN, or NULL */
    const char *organizer_email; /* without "mailto:" */
    const char *dtstamp;         /* Compact DateTime */
    const char *start_time;      /* Compact DateTime, UTC; a series: its first instance */
    const char *end_time;        /* Compact DateTime, UTC, exclusive */
    const char *location;        /* C:Location, or B:Location/DisplayName (16.x) */
    const char *location_uri;    /* 16.x B:Location/LocationUri <-> LOCATION;ALTREP, or NULL */
    const char *latitude;        /* 16.x B:Location/Latitude and Longitude <-> GEO, decimal */
    const char *longitude;       /* degrees; both or neither; with EAS_CALMAP_LOCATION */
    /* 16.x B:Location children beyond DisplayName, Latitude, Longitude and LocationUri, by
     * enum eas_calmap_loc_field (NULL: not sent / not stored) <-> X-EAS-LOCATION, a JSON object
     * of strings keyed by element name (activesync.md §4.2). */
    const char *loc[EAS_CALMAP_LOC_NFIELDS];
    bool location_full; /* In: the client sent a B:Location container (16.x), so GEO and
                           X-EAS-LOCATION are replaced by what it holds, not kept */
    int reminder;       /* minutes before the start */
    int sensitivity;    /* 0 normal, 1 personal, 2 private, 3 confidential */
    const char *subject;
    const char *uid;
    int meeting_status; /* 0, 1, 3, 5, 7 (MS-ASCAL 2.2.2.29) */
    const struct eas_calmap_attendee *attendees;
    size_t nattendees;
    const char *const *categories;
    size_t ncategories;
    struct eas_calmap_recurrence recurrence;
    const struct eas_calmap_exception *exceptions; /* ascending exception_start_time */
    size_t nexceptions;
    const char *body;      /* plain text (DESCRIPTION) */
    const char *body_html; /* HTML (X-ALT-DESC;FMTTYPE=text/html), or NULL; with
                              EAS_CALMAP_BODY. Out: NativeBodyType is 2 when set, else 1
                              (§4.2). In: stored as X-ALT-DESC beside `body`, which the
                              caller renders as plain text (§4.8) */
    bool response_requested;
    bool disallow_new_time_proposal;
    int response_type;                  /* 0-5 (MS-ASCAL 2.2.2.37), S->C */
    const char *appointment_reply_time; /* Compact DateTime, S->C */
    /* Out of eas_calmap_from_ical() only: the series cannot be expressed as one EAS item (a rule
     * EAS cannot express, RDATE, several RRULEs, or more than EAS_CALMAP_MAX_EXCEPTIONS
     * exceptions), so RECURRENCE and EXCEPTIONS are left out and the fields describe the
     * master's first instance; src/eas exposes the instances one by one (cal_expand) per
     * activesync.md §4.5 ("flattening"). */
    bool is_flattened;
};

/* How eas_calmap_from_ical_opts() projects an object for one request. */
struct eas_calmap_opts {
    unsigned version;        /* protocol version times 10: 121, 140, 141, 160, 161 */
    const char *principal;   /* the principal's e-mail (no "mailto:"), or NULL: the principal
                                is then taken to be the organizer */
    const char *const *also; /* more e-mails of the principal (admin-given), may be NULL */
    size_t nalso;
    const char *default_tz; /* IANA zone for floating and UTC times and ≤14.1 all-day
                               events (activesync.md §4.3.1 step 5, §4.4); NULL = UTC */
    int64_t now;            /* Unix seconds: picks the rule year of a running series */
};

/* The stored object `ics` (borrowed; validated by cal_parse_object on PUT) as an EAS item,
 * per activesync.md §4 for protocol `version` (x10). Strings go into `arena`. The principal
 * is the organizer, floating/UTC times and all-day dates use UTC, and "now" is the clock.
 *
 * What `present` gets: StartTime, EndTime (DTEND, DURATION or the RFC 5545 default),
 * AllDayEvent, BusyStatus (X-MICROSOFT-CDO-BUSYSTATUS, else TRANSP, else STATUS:TENTATIVE,
 * else busy) and MeetingStatus always; Timezone except for 16.x all-day items (for the
 * rules of the DTSTART's year, or of `now` for a series still running, §4.3.1); UID,
 * DtStamp (the later of DTSTAMP and LAST-MODIFIED), Subject, Location, Body, Organizer,
 * Sensitivity (CLASS), Reminder (the first DISPLAY, else AUDIO, alarm), Attendees and
 * Categories when the object has them; ResponseType and ResponseRequested (14.0+, meetings
 * only), DisallowNewTimeProposal and AppointmentReplyTime (14.0+, when stored);
 * Recurrence (FirstDayOfWeek only 14.1+, CalendarType 0 from 14.0) and Exceptions (sorted,
 * at most EAS_CALMAP_MAX_EXCEPTIONS) for a series EAS can express, else is_flattened.
 * Returns 0, or -1 with `err` set to cal_cond_valid_calendar_data when `ics` does not parse
 * or eas_cond_calmap_unsupported when it holds no VEVENT (VTODO, VJOURNAL). */
int eas_calmap_from_ical(struct slice ics,
                         unsigned version,
                         struct arena *arena,
                         struct eas_calmap_event *out,
                         struct err *err);

/* eas_calmap_from_ical() with explicit options. */
int eas_calmap_from_ical_opts(struct slice ics,
                              const struct eas_calmap_opts *opts,
                              struct arena *arena,
                              struct eas_calmap_event *out,
                              struct err *err);

/* EAS fields `ev` (borrowed) -> a complete iCalendar object (VCALENDAR with a VTIMEZONE
 * when a zone is used, the VEVENT master, overrides) that cal_parse_object() accepts, as a
 * NUL-terminated slice in `arena`.
 *
 * When `existing` is non-empty (a client Change) it is the starting point, and iCalendar
 * properties and parameters EAS does not map are kept (activesync.md §4.2: ROLE=CHAIR,
 * CUTYPE=ROOM, X- properties, other alarms). A field present in `ev` replaces the stored
 * one; an absent field is kept if its bit is in `keep_absent`, else removed (ghosting,
 * §3.3.7). Never removed, whatever keep_absent says: StartTime, EndTime, AllDayEvent,
 * Timezone, UID and DtStamp (structure, not content), MeetingStatus (derived: 5/7/13/15
 * when sent set STATUS:CANCELLED, other values clear it) and ResponseRequested (sent, it
 * sets RSVP on every ATTENDEE). ResponseType and AppointmentReplyTime are ignored.
 *
 * Series: Recurrence replaces the RRULE. Exceptions, when present, replace every override
 * and EXDATE (a modified instance starts as a copy of the master). Absent and kept, they
 * stay, and an override that held the master's old Subject, Location or Body takes the new
 * one (it inherited it, MS-ASCAL 2.2.2.21); but a new StartTime, AllDayEvent or RRULE drops
 * them (their RECURRENCE-IDs name other instances; MS-ASCAL 3.1.5.3 for 16.x).
 *
 * Time zone: the blob when sent (the stored TZID when the blob equals its rules), else the
 * zone of the existing DTSTART, else UTC. All-day dates are the local dates of StartTime
 * (round down) and EndTime (round up) in the blob's zone, or in UTC without a blob (16.x
 * sends `YYYYMMDDT000000Z`, §4.4). `uid_if_missing` (may be NULL) is the UID when neither
 * `ev` nor `existing` has one (16.x ClientUid, or a new UUID). A missing DTSTAMP becomes
 * the current time. The caller leaves EAS_CALMAP_BODY out for a body sent Truncated (§4.8).
 *
 * Returns 0, or -1 with `err` set to eas_cond_calmap_invalid (400, EAS status 6), the message
 * naming the field: a malformed date, EndTime before StartTime, no StartTime, a Timezone
 * that is not base64 of 172 bytes or holds impossible rules, Recurrence Type 4 or unknown,
 * a non-Gregorian CalendarType, out-of-range numbers, no UID at all, a UID over
 * EAS_CALMAP_MAX_UID, a list with a count but no items; eas_cond_calmap_unsupported when
 * `existing` holds no VEVENT; or cal_cond_valid_calendar_data when `existing` does not
 * parse. Work: O(size of the object) plus one blob match against the short zone list. */
int eas_calmap_to_ical(const struct eas_calmap_event *ev,
                       struct slice existing,
                       uint32_t keep_absent,
                       const char *uid_if_missing,
                       struct arena *arena,
                       struct slice *ics_out,
                       struct err *err);

/* 16.x single-occurrence Change/Delete (MS-ASCMD 2.2.3.87 InstanceId). With `ex` (Change)
 * the override of the instance that originally started at `instance_id` (Compact DateTime,
 * UTC; all-day: the date at T000000Z) is created from the master, or updated, with ex's
 * present fields (`ex->deleted` true acts as a delete). With `ex` NULL (Delete) the instance
 * gets an EXDATE and any override of it is removed. The result is in `arena`. Returns 0, or
 * -1 with eas_cond_calmap_invalid (bad instance_id, no such instance, a non-recurring object,
 * bad fields) or cal_cond_valid_calendar_data (existing does not parse). */
int eas_calmap_apply_instance(struct slice existing,
                              const char *instance_id,
                              const struct eas_calmap_exception *ex,
                              struct arena *arena,
                              struct slice *ics_out,
                              struct err *err);

/* ---------------------------------------------------------------------------------------- */
/* The Timezone blob (MS-ASDTYPE 2.7.6, activesync.md §4.3), exposed for tests and src/eas. */

/* SYSTEMTIME: annual rule form when year is 0 (day = week of month 1-5, 5 = last). */
struct eas_calmap_systime {
    uint16_t year, month, day_of_week, day, hour, minute, second, ms;
};

/* TIME_ZONE_INFORMATION decoded; names as UTF-8 (at most 31 UTF-16 units on the wire). */
struct eas_calmap_tz {
    int32_t bias; /* minutes WEST of UTC: UTC = local + bias (UTC-5 is +300) */
    char standard_name[128];
    struct eas_calmap_systime standard_date; /* daylight -> standard; month 0: no DST */
    int32_t standard_bias;
    char daylight_name[128];
    struct eas_calmap_systime daylight_date; /* standard -> daylight */
    int32_t daylight_bias;
};

/* The rules of the zone `tzid` (an IANA name of libical's builtin zones, or a Windows name
 * of the short list in eas/calmap_tz.c) in force in `year`, with the Windows name as both
 * names when known. Returns 0, or -1 with eas_cond_calmap_invalid when the zone is unknown. */
int eas_calmap_tz_from_tzid(const char *tzid, int year, struct eas_calmap_tz *out, struct err *err);

/* The 172 bytes of `tz`, little-endian, as base64 with padding (230 characters) in `arena`. */
const char *eas_calmap_tz_encode(const struct eas_calmap_tz *tz, struct arena *arena);

/* Decodes a base64 Timezone and checks its rules (months 0-12, weekday 0-6, week 1-5, a
 * time of day, |bias| <= 24 h). Returns 0, or -1 with eas_cond_calmap_invalid. */
int eas_calmap_tz_decode(struct slice b64, struct eas_calmap_tz *out, struct err *err);

/* A VTIMEZONE for `tz` around `year`: a builtin IANA zone of the short list whose rules in
 * `year` equal the blob's (the one the blob's names point to first), as libical ships it
 * with TZID = the IANA name; else a custom zone `EAS-<8 hex digits of the blob's hash>`
 * with one STANDARD and one DAYLIGHT carrying RRULE:FREQ=YEARLY;BYMONTH;BYDAY (only a
 * STANDARD without DST). "UTC" for a zero bias without DST, with *vtimezone_out empty.
 * Both outputs NUL-terminated in `arena`. */
void eas_calmap_tz_to_vtimezone(const struct eas_calmap_tz *tz,
                                int year,
                                struct arena *arena,
                                const char **tzid_out,
                                struct slice *vtimezone_out);

#endif
