/* eas/item.c: a calendar item in WBXML (MS-ASCAL): writes struct eas_calmap_event as the
 * children of ApplicationData (Sync) or Properties (ItemOperations), and reads a client's
 * ApplicationData back into one, with a presence bit per property for ghosting. The
 * iCalendar side is eas/calmap.h (on cal/edit.h); this file only knows elements. Version rules:
 * Location is Calendar:Location up to 14.1 and AirSyncBase:Location in 16.x; the body is
 * AirSyncBase:Body (12.0+); AttendeeStatus/Type are 12.0+, ResponseType 14.0+. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "eas/eas_int.h"
#include "util/timeutil.h"

/* ---------------------------------------------------------------------------------------- */
/* Writing */

static int write_attendees(struct eas_wbxml_enc *e,
                           unsigned version,
                           const struct eas_calmap_attendee *a,
                           size_t n)
{
    if (n == 0) {
        return 0;
    }
    int rc = eas_enc_start(e, EAS_CAL_ATTENDEES);
    for (size_t i = 0; i < n; i++) {
        rc |= eas_enc_start(e, EAS_CAL_ATTENDEE);
        rc |= eas_enc_cstr(e, EAS_CAL_EMAIL, a[i].email ? a[i].email : "");
        rc |= eas_enc_cstr(e, EAS_CAL_NAME,
                           a[i].name && *a[i].name ? a[i].name : (a[i].email ? a[i].email : ""));
        if (version >= 120 && a[i].status) {
            rc |= eas_enc_uint(e, EAS_CAL_ATTENDEESTATUS, (uint64_t)a[i].status);
        }
        if (version >= 120 && a[i].type) {
            rc |= eas_enc_uint(e, EAS_CAL_ATTENDEETYPE, (uint64_t)a[i].type);
        }
        rc |= eas_enc_end(e);
    }
    return rc | eas_enc_end(e);
}

static int write_categories(struct eas_wbxml_enc *e, const char *const *c, size_t n)
{
    if (n == 0) {
        return 0;
    }
    int rc = eas_enc_start(e, EAS_CAL_CATEGORIES);
    for (size_t i = 0; i < n; i++) {
        rc |= eas_enc_cstr(e, EAS_CAL_CATEGORY, c[i]);
    }
    return rc | eas_enc_end(e);
}

static int
write_recurrence(struct eas_wbxml_enc *e, unsigned version, const struct eas_calmap_recurrence *r)
{
    int rc = eas_enc_start(e, EAS_CAL_RECURRENCE);
    rc |= eas_enc_uint(e, EAS_CAL_TYPE, (uint64_t)r->type);
    if (r->present & EAS_CALMAP_R_OCCURRENCES) {
        rc |= eas_enc_uint(e, EAS_CAL_OCCURRENCES, (uint64_t)r->occurrences);
    }
    if (r->present & EAS_CALMAP_R_INTERVAL) {
        rc |= eas_enc_uint(e, EAS_CAL_INTERVAL, (uint64_t)r->interval);
    }
    if (r->present & EAS_CALMAP_R_WEEKOFMONTH) {
        rc |= eas_enc_uint(e, EAS_CAL_WEEKOFMONTH, (uint64_t)r->week_of_month);
    }
    if (r->present & EAS_CALMAP_R_DAYOFMONTH) {
        rc |= eas_enc_uint(e, EAS_CAL_DAYOFMONTH, (uint64_t)r->day_of_month);
    }
    if (r->present & EAS_CALMAP_R_DAYOFWEEK) {
        rc |= eas_enc_uint(e, EAS_CAL_DAYOFWEEK, (uint64_t)r->day_of_week);
    }
    if (r->present & EAS_CALMAP_R_MONTHOFYEAR) {
        rc |= eas_enc_uint(e, EAS_CAL_MONTHOFYEAR, (uint64_t)r->month_of_year);
    }
    if (r->present & EAS_CALMAP_R_UNTIL) {
        rc |= eas_enc_cstr(e, EAS_CAL_UNTIL, r->until);
    }
    if (version >= 140 && (r->present & EAS_CALMAP_R_CALENDARTYPE)) {
        rc |= eas_enc_uint(e, EAS_CAL_CALENDARTYPE, (uint64_t)r->calendar_type);
    }
    if (version >= 140 && (r->present & EAS_CALMAP_R_ISLEAPMONTH)) {
        rc |= eas_enc_uint(e, EAS_CAL_ISLEAPMONTH, r->is_leap_month ? 1 : 0);
    }
    if (version >= 141 && (r->present & EAS_CALMAP_R_FIRSTDAYOFWEEK)) {
        rc |= eas_enc_uint(e, EAS_CAL_FIRSTDAYOFWEEK, (uint64_t)r->first_day_of_week);
    }
    return rc | eas_enc_end(e);
}

/* AirSyncBase:Body of `text` as the client prefers it: plain text (Type 1) unless it asked
 * for HTML only (Type 2), truncated to TruncationSize with Truncated set. */
static int write_body(struct eas_wbxml_enc *e,
                      const struct eas_bodypref *bp,
                      const char *text,
                      const char *html)
{
    bool as_html = bp && bp->type == 2 && html && *html;
    if (as_html) {
        text = html;
    }
    if (!text) {
        text = "";
    }
    size_t n = strlen(text);
    size_t max = bp && bp->truncation ? bp->truncation : n;
    bool truncated = n > max;
    size_t cut = truncated ? max : n;
    while (cut > 0 && cut < n && ((unsigned char)text[cut] & 0xC0) == 0x80) {
        cut--; /* never split a UTF-8 sequence */
    }
    int rc = eas_enc_start(e, EAS_ASB_BODY);
    rc |= eas_enc_uint(e, EAS_ASB_TYPE, as_html ? 2 : 1);
    rc |= eas_enc_uint(e, EAS_ASB_ESTIMATEDDATASIZE, n);
    if (truncated) {
        rc |= eas_enc_uint(e, EAS_ASB_TRUNCATED, 1);
    }
    rc |= eas_enc_text(e, EAS_ASB_DATA, text, cut);
    return rc | eas_enc_end(e);
}

/* B:Location children by enum eas_calmap_loc_field. */
static const unsigned loc_tags[EAS_CALMAP_LOC_NFIELDS] = {
    [EAS_CALMAP_LOC_ANNOTATION] = EAS_ASB_ANNOTATION,
    [EAS_CALMAP_LOC_STREET] = EAS_ASB_STREET,
    [EAS_CALMAP_LOC_CITY] = EAS_ASB_CITY,
    [EAS_CALMAP_LOC_STATE] = EAS_ASB_STATE,
    [EAS_CALMAP_LOC_COUNTRY] = EAS_ASB_COUNTRY,
    [EAS_CALMAP_LOC_POSTALCODE] = EAS_ASB_POSTALCODE,
    [EAS_CALMAP_LOC_ACCURACY] = EAS_ASB_ACCURACY,
    [EAS_CALMAP_LOC_ALTITUDE] = EAS_ASB_ALTITUDE,
    [EAS_CALMAP_LOC_ALTITUDEACCURACY] = EAS_ASB_ALTITUDEACCURACY,
};

static int put_opt(struct eas_wbxml_enc *e, unsigned tag, const char *v)
{
    return v ? eas_enc_cstr(e, tag, v) : 0;
}

/* C:Location up to 14.1; the B:Location container in 16.x (MS-ASAIRS 2.2.2.27, children in
 * schema order), with the fields beyond DisplayName when `ev` (the item, not an exception)
 * has them. */
static int write_location(struct eas_wbxml_enc *e,
                          unsigned version,
                          const char *loc,
                          const struct eas_calmap_event *ev)
{
    if (version < 160) {
        return eas_enc_cstr(e, EAS_CAL_LOCATION, loc);
    }
    int rc = eas_enc_start(e, EAS_ASB_LOCATION) | eas_enc_cstr(e, EAS_ASB_DISPLAYNAME, loc);
    if (ev) {
        for (size_t i = EAS_CALMAP_LOC_ANNOTATION; i <= EAS_CALMAP_LOC_POSTALCODE; i++) {
            rc |= put_opt(e, loc_tags[i], ev->loc[i]);
        }
        if (ev->latitude && ev->longitude) {
            rc |= eas_enc_cstr(e, EAS_ASB_LATITUDE, ev->latitude) |
                  eas_enc_cstr(e, EAS_ASB_LONGITUDE, ev->longitude);
        }
        for (size_t i = EAS_CALMAP_LOC_ACCURACY; i <= EAS_CALMAP_LOC_ALTITUDEACCURACY; i++) {
            rc |= put_opt(e, loc_tags[i], ev->loc[i]);
        }
        rc |= put_opt(e, EAS_ASB_LOCATIONURI, ev->location_uri);
    }
    return rc | eas_enc_end(e);
}

static int write_exception(struct eas_wbxml_enc *e,
                           unsigned version,
                           const struct eas_bodypref *bp,
                           const struct eas_calmap_exception *x)
{
    int rc = eas_enc_start(e, EAS_CAL_EXCEPTION);
    if (x->deleted) {
        rc |= eas_enc_uint(e, EAS_CAL_DELETED, 1);
    }
    rc |= eas_enc_cstr(e, EAS_CAL_EXCEPTIONSTARTTIME, x->exception_start_time);
    if (!x->deleted) {
        if (x->present & EAS_CALMAP_STARTTIME) {
            rc |= eas_enc_cstr(e, EAS_CAL_STARTTIME, x->start_time);
        }
        if (x->present & EAS_CALMAP_ENDTIME) {
            rc |= eas_enc_cstr(e, EAS_CAL_ENDTIME, x->end_time);
        }
        if (x->present & EAS_CALMAP_DTSTAMP) {
            rc |= eas_enc_cstr(e, EAS_CAL_DTSTAMP, x->dtstamp);
        }
        if (x->present & EAS_CALMAP_SUBJECT) {
            rc |= eas_enc_cstr(e, EAS_CAL_SUBJECT, x->subject);
        }
        if (x->present & EAS_CALMAP_LOCATION) {
            rc |= write_location(e, version, x->location, NULL);
        }
        if (x->present & EAS_CALMAP_ALLDAY) {
            rc |= eas_enc_uint(e, EAS_CAL_ALLDAYEVENT, x->all_day ? 1 : 0);
        }
        if (x->present & EAS_CALMAP_BUSYSTATUS) {
            rc |= eas_enc_uint(e, EAS_CAL_BUSYSTATUS, (uint64_t)x->busy_status);
        }
        if (x->present & EAS_CALMAP_SENSITIVITY) {
            rc |= eas_enc_uint(e, EAS_CAL_SENSITIVITY, (uint64_t)x->sensitivity);
        }
        if (x->present & EAS_CALMAP_REMINDER) {
            rc |= eas_enc_uint(e, EAS_CAL_REMINDER, (uint64_t)x->reminder);
        }
        if (x->present & EAS_CALMAP_MEETINGSTATUS) {
            rc |= eas_enc_uint(e, EAS_CAL_MEETINGSTATUS, (uint64_t)x->meeting_status);
        }
        if (x->present & EAS_CALMAP_ATTENDEES) {
            rc |= write_attendees(e, version, x->attendees, x->nattendees);
        }
        if (x->present & EAS_CALMAP_CATEGORIES) {
            rc |= write_categories(e, x->categories, x->ncategories);
        }
        if (x->present & EAS_CALMAP_BODY) {
            rc |= write_body(e, bp, x->body, NULL);
        }
    }
    return rc | eas_enc_end(e);
}

int eas_item_write(struct eas_wbxml_enc *e,
                   unsigned version,
                   const struct eas_bodypref *bp,
                   const struct eas_calmap_event *ev)
{
    uint32_t p = ev->present;
    int rc = 0;
    if (p & EAS_CALMAP_TIMEZONE) {
        rc |= eas_enc_cstr(e, EAS_CAL_TIMEZONE, ev->timezone);
    }
    if (p & EAS_CALMAP_DTSTAMP) {
        rc |= eas_enc_cstr(e, EAS_CAL_DTSTAMP, ev->dtstamp);
    }
    if (p & EAS_CALMAP_STARTTIME) {
        rc |= eas_enc_cstr(e, EAS_CAL_STARTTIME, ev->start_time);
    }
    if (p & EAS_CALMAP_ENDTIME) {
        rc |= eas_enc_cstr(e, EAS_CAL_ENDTIME, ev->end_time);
    }
    rc |= eas_enc_cstr(e, EAS_CAL_SUBJECT, (p & EAS_CALMAP_SUBJECT) ? ev->subject : "");
    if (p & EAS_CALMAP_UID) {
        rc |= eas_enc_cstr(e, EAS_CAL_UID, ev->uid);
    }
    if (p & EAS_CALMAP_ORGANIZER) {
        if (ev->organizer_name && *ev->organizer_name) {
            rc |= eas_enc_cstr(e, EAS_CAL_ORGANIZERNAME, ev->organizer_name);
        }
        if (ev->organizer_email && *ev->organizer_email) {
            rc |= eas_enc_cstr(e, EAS_CAL_ORGANIZEREMAIL, ev->organizer_email);
        }
    }
    rc |= eas_enc_uint(e, EAS_CAL_SENSITIVITY,
                       (p & EAS_CALMAP_SENSITIVITY) ? (uint64_t)ev->sensitivity : 0);
    rc |= eas_enc_uint(e, EAS_CAL_BUSYSTATUS,
                       (p & EAS_CALMAP_BUSYSTATUS) ? (uint64_t)ev->busy_status : 2);
    rc |= eas_enc_uint(e, EAS_CAL_ALLDAYEVENT, (p & EAS_CALMAP_ALLDAY) && ev->all_day ? 1 : 0);
    if (p & EAS_CALMAP_REMINDER) {
        rc |= eas_enc_uint(e, EAS_CAL_REMINDER, (uint64_t)ev->reminder);
    }
    rc |= eas_enc_uint(e, EAS_CAL_MEETINGSTATUS,
                       (p & EAS_CALMAP_MEETINGSTATUS) ? (uint64_t)ev->meeting_status : 0);
    if (p & EAS_CALMAP_ATTENDEES) {
        rc |= write_attendees(e, version, ev->attendees, ev->nattendees);
    }
    if (p & EAS_CALMAP_CATEGORIES) {
        rc |= write_categories(e, ev->categories, ev->ncategories);
    }
    if (p & EAS_CALMAP_RECURRENCE) {
        rc |= write_recurrence(e, version, &ev->recurrence);
    }
    if ((p & EAS_CALMAP_EXCEPTIONS) && ev->nexceptions > 0) {
        rc |= eas_enc_start(e, EAS_CAL_EXCEPTIONS);
        for (size_t i = 0; i < ev->nexceptions; i++) {
            rc |= write_exception(e, version, bp, &ev->exceptions[i]);
        }
        rc |= eas_enc_end(e);
    }
    if (version >= 140 && (p & EAS_CALMAP_RESPONSEREQUESTED)) {
        rc |= eas_enc_uint(e, EAS_CAL_RESPONSEREQUESTED, ev->response_requested ? 1 : 0);
    }
    if (version >= 140 && (p & EAS_CALMAP_RESPONSETYPE)) {
        rc |= eas_enc_uint(e, EAS_CAL_RESPONSETYPE, (uint64_t)ev->response_type);
    }
    if (version >= 140 && (p & EAS_CALMAP_DISALLOWNEWTIMEPROPOSAL)) {
        rc |= eas_enc_uint(e, EAS_CAL_DISALLOWNEWTIMEPROPOSAL,
                           ev->disallow_new_time_proposal ? 1 : 0);
    }
    rc |= write_body(e, bp, (p & EAS_CALMAP_BODY) ? ev->body : "",
                     (p & EAS_CALMAP_BODY) ? ev->body_html : NULL);
    if ((p & EAS_CALMAP_LOCATION) && ev->location) {
        rc |= write_location(e, version, ev->location, ev);
    }
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Reading a client's ApplicationData */

static int read_int(const struct eas_node *n, uint64_t max, int *out, struct err *err)
{
    uint64_t v;
    if (eas_node_uint(n, max, &v) != 0) {
        return err_set(err, &eas_cond_item_invalid, "%s is not a number up to %llu",
                       eas_tag_name(n->tag) ? eas_tag_name(n->tag) : "element",
                       (unsigned long long)max);
    }
    *out = (int)v;
    return 0;
}

static const char *node_str(struct arena *a, const struct eas_node *n)
{
    return arena_strdup(a, eas_node_text(n, ""));
}

static int read_attendees(const struct eas_node *list,
                          struct arena *a,
                          const struct eas_calmap_attendee **out,
                          size_t *nout,
                          struct err *err)
{
    size_t n = 0;
    for (const struct eas_node *c = list->child; c; c = c->next) {
        n += c->tag == EAS_CAL_ATTENDEE;
    }
    struct eas_calmap_attendee *v = arena_zalloc(a, (n ? n : 1) * sizeof(*v));
    size_t i = 0;
    for (const struct eas_node *c = eas_node_child(list, EAS_CAL_ATTENDEE); c;
         c = eas_node_next(c, EAS_CAL_ATTENDEE)) {
        v[i].email = node_str(a, eas_node_child(c, EAS_CAL_EMAIL));
        v[i].name = node_str(a, eas_node_child(c, EAS_CAL_NAME));
        const struct eas_node *s = eas_node_child(c, EAS_CAL_ATTENDEESTATUS);
        const struct eas_node *t = eas_node_child(c, EAS_CAL_ATTENDEETYPE);
        if ((s && read_int(s, 5, &v[i].status, err) != 0) ||
            (t && read_int(t, 3, &v[i].type, err) != 0)) {
            return -1;
        }
        i++;
    }
    *out = v;
    *nout = i;
    return 0;
}

static void
read_categories(const struct eas_node *list, struct arena *a, const char *const **out, size_t *nout)
{
    size_t n = 0;
    for (const struct eas_node *c = list->child; c; c = c->next) {
        n += c->tag == EAS_CAL_CATEGORY;
    }
    const char **v = arena_zalloc(a, (n ? n : 1) * sizeof(*v));
    size_t i = 0;
    for (const struct eas_node *c = eas_node_child(list, EAS_CAL_CATEGORY); c;
         c = eas_node_next(c, EAS_CAL_CATEGORY)) {
        v[i++] = node_str(a, c);
    }
    *out = v;
    *nout = i;
}

static int read_recurrence(const struct eas_node *r,
                           struct arena *a,
                           struct eas_calmap_recurrence *out,
                           struct err *err)
{
    static const struct {
        unsigned tag;
        uint32_t bit;
        uint64_t max;
        size_t off;
    } ints[] = {
        {EAS_CAL_INTERVAL, EAS_CALMAP_R_INTERVAL, 999,
         offsetof(struct eas_calmap_recurrence, interval)},
        {EAS_CAL_OCCURRENCES, EAS_CALMAP_R_OCCURRENCES, 999,
         offsetof(struct eas_calmap_recurrence, occurrences)},
        {EAS_CAL_DAYOFWEEK, EAS_CALMAP_R_DAYOFWEEK, 127,
         offsetof(struct eas_calmap_recurrence, day_of_week)},
        {EAS_CAL_DAYOFMONTH, EAS_CALMAP_R_DAYOFMONTH, 127,
         offsetof(struct eas_calmap_recurrence, day_of_month)},
        {EAS_CAL_WEEKOFMONTH, EAS_CALMAP_R_WEEKOFMONTH, 5,
         offsetof(struct eas_calmap_recurrence, week_of_month)},
        {EAS_CAL_MONTHOFYEAR, EAS_CALMAP_R_MONTHOFYEAR, 12,
         offsetof(struct eas_calmap_recurrence, month_of_year)},
        {EAS_CAL_FIRSTDAYOFWEEK, EAS_CALMAP_R_FIRSTDAYOFWEEK, 6,
         offsetof(struct eas_calmap_recurrence, first_day_of_week)},
        {EAS_CAL_CALENDARTYPE, EAS_CALMAP_R_CALENDARTYPE, 20,
         offsetof(struct eas_calmap_recurrence, calendar_type)},
    };

    memset(out, 0, sizeof(*out));
    const struct eas_node *t = eas_node_child(r, EAS_CAL_TYPE);
    if (!t) {
        return err_set(err, &eas_cond_item_invalid, "Recurrence without Type");
    }
    if (read_int(t, 6, &out->type, err) != 0) {
        return -1;
    }
    for (size_t i = 0; i < ALM_ARRAY_LEN(ints); i++) {
        const struct eas_node *n = eas_node_child(r, ints[i].tag);
        if (n) {
            if (read_int(n, ints[i].max, (int *)((char *)out + ints[i].off), err) != 0) {
                return -1;
            }
            out->present |= ints[i].bit;
        }
    }
    const struct eas_node *u = eas_node_child(r, EAS_CAL_UNTIL);
    if (u) {
        out->until = node_str(a, u);
        out->present |= EAS_CALMAP_R_UNTIL;
    }
    const struct eas_node *leap = eas_node_child(r, EAS_CAL_ISLEAPMONTH);
    if (leap) {
        int v = 0;
        if (read_int(leap, 1, &v, err) != 0) {
            return -1;
        }
        out->is_leap_month = v != 0;
        out->present |= EAS_CALMAP_R_ISLEAPMONTH;
    }
    return 0;
}

/* The fields an Exception and the item share. `x` may be the event's own fields. */
struct common {
    uint32_t *present;
    const char **start, **end, **dtstamp, **subject, **location, **body;
    bool *all_day;
    int *busy, *sensitivity, *reminder, *meeting;
    const struct eas_calmap_attendee **attendees;
    size_t *nattendees;
    const char *const **categories;
    size_t *ncategories;
    struct eas_calmap_event *ev; /* the item's own fields (B:Location beyond DisplayName), or NULL
                                 for an Exception */
};

/* The B:Location children beyond DisplayName (16.x) into `ev`; an empty element is not
 * sent. */
static void read_location(const struct eas_node *loc, struct arena *a, struct eas_calmap_event *ev)
{
    ev->location_full = true;
    for (size_t i = 0; i < EAS_CALMAP_LOC_NFIELDS; i++) {
        const struct eas_node *n = eas_node_child(loc, loc_tags[i]);
        const char *v = n ? eas_node_text(n, "") : "";
        ev->loc[i] = *v ? arena_strdup(a, v) : NULL;
    }

    static const struct {
        unsigned tag;
        size_t off;
    } more[] = {
        {EAS_ASB_LATITUDE, offsetof(struct eas_calmap_event, latitude)},
        {EAS_ASB_LONGITUDE, offsetof(struct eas_calmap_event, longitude)},
        {EAS_ASB_LOCATIONURI, offsetof(struct eas_calmap_event, location_uri)},
    };

    for (size_t i = 0; i < sizeof(more) / sizeof(more[0]); i++) {
        const struct eas_node *n = eas_node_child(loc, more[i].tag);
        const char *v = n ? eas_node_text(n, "") : "";
        const char **slot = (const char **)(void *)((char *)ev + more[i].off);
        *slot = *v ? arena_strdup(a, v) : NULL;
    }
}

static int
read_common(const struct eas_node *c, struct arena *a, const struct common *f, struct err *err)
{
    int v = 0;
    switch (c->tag) {
    case EAS_CAL_STARTTIME:
        *f->start = node_str(a, c);
        *f->present |= EAS_CALMAP_STARTTIME;
        return 0;
    case EAS_CAL_ENDTIME:
        *f->end = node_str(a, c);
        *f->present |= EAS_CALMAP_ENDTIME;
        return 0;
    case EAS_CAL_DTSTAMP:
        *f->dtstamp = node_str(a, c);
        *f->present |= EAS_CALMAP_DTSTAMP;
        return 0;
    case EAS_CAL_SUBJECT:
        *f->subject = node_str(a, c);
        *f->present |= EAS_CALMAP_SUBJECT;
        return 0;
    case EAS_CAL_LOCATION:
        *f->location = node_str(a, c);
        *f->present |= EAS_CALMAP_LOCATION;
        return 0;
    case EAS_ASB_LOCATION:
        *f->location = node_str(a, eas_node_child(c, EAS_ASB_DISPLAYNAME));
        *f->present |= EAS_CALMAP_LOCATION;
        if (f->ev) {
            read_location(c, a, f->ev);
        }
        return 0;
    case EAS_CAL_BODY: /* 2.5 */
        *f->body = node_str(a, c);
        *f->present |= EAS_CALMAP_BODY;
        return 0;
    case EAS_ASB_BODY: {
        /* A body the device holds truncated is not the body: leave the stored one alone. */
        uint64_t truncated = 0;
        const struct eas_node *t = eas_node_child(c, EAS_ASB_TRUNCATED);
        if (t && eas_node_uint(t, 1, &truncated) == 0 && truncated) {
            return 0;
        }
        *f->body = node_str(a, eas_node_child(c, EAS_ASB_DATA));
        *f->present |= EAS_CALMAP_BODY;
        return 0;
    }
    case EAS_CAL_ALLDAYEVENT:
        if (read_int(c, 1, &v, err) != 0) {
            return -1;
        }
        *f->all_day = v != 0;
        *f->present |= EAS_CALMAP_ALLDAY;
        return 0;
    case EAS_CAL_BUSYSTATUS:
        *f->present |= EAS_CALMAP_BUSYSTATUS;
        return read_int(c, 4, f->busy, err);
    case EAS_CAL_SENSITIVITY:
        *f->present |= EAS_CALMAP_SENSITIVITY;
        return read_int(c, 3, f->sensitivity, err);
    case EAS_CAL_REMINDER:
        *f->present |= EAS_CALMAP_REMINDER;
        return read_int(c, 60 * 24 * 366, f->reminder, err);
    case EAS_CAL_MEETINGSTATUS:
        *f->present |= EAS_CALMAP_MEETINGSTATUS;
        return read_int(c, 15, f->meeting, err);
    case EAS_CAL_ATTENDEES:
        *f->present |= EAS_CALMAP_ATTENDEES;
        return read_attendees(c, a, f->attendees, f->nattendees, err);
    case EAS_CAL_CATEGORIES:
        *f->present |= EAS_CALMAP_CATEGORIES;
        read_categories(c, a, f->categories, f->ncategories);
        return 0;
    default:
        return 1; /* not a shared field */
    }
}

static int read_exceptions(const struct eas_node *list,
                           struct arena *a,
                           const struct eas_calmap_exception **out,
                           size_t *nout,
                           struct err *err)
{
    size_t n = 0;
    for (const struct eas_node *c = list->child; c; c = c->next) {
        n += c->tag == EAS_CAL_EXCEPTION;
    }
    if (n > EAS_CALMAP_MAX_EXCEPTIONS) {
        return err_set(err, &eas_cond_item_invalid, "more than %d Exceptions",
                       EAS_CALMAP_MAX_EXCEPTIONS);
    }
    struct eas_calmap_exception *v = arena_zalloc(a, (n ? n : 1) * sizeof(*v));
    size_t i = 0;
    for (const struct eas_node *x = eas_node_child(list, EAS_CAL_EXCEPTION); x;
         x = eas_node_next(x, EAS_CAL_EXCEPTION)) {
        struct eas_calmap_exception *e = &v[i++];
        struct common f = {&e->present,
                           &e->start_time,
                           &e->end_time,
                           &e->dtstamp,
                           &e->subject,
                           &e->location,
                           &e->body,
                           &e->all_day,
                           &e->busy_status,
                           &e->sensitivity,
                           &e->reminder,
                           &e->meeting_status,
                           &e->attendees,
                           &e->nattendees,
                           &e->categories,
                           &e->ncategories,
                           NULL};
        for (const struct eas_node *c = x->child; c; c = c->next) {
            int rc = read_common(c, a, &f, err);
            if (rc < 0) {
                return -1;
            }
            if (rc == 0) {
                continue;
            }
            if (c->tag == EAS_CAL_DELETED) {
                int d = 0;
                if (read_int(c, 1, &d, err) != 0) {
                    return -1;
                }
                e->deleted = d != 0;
            } else if (c->tag == EAS_CAL_EXCEPTIONSTARTTIME) {
                e->exception_start_time = node_str(a, c);
            }
        }
        if (!e->exception_start_time) {
            return err_set(err, &eas_cond_item_invalid, "Exception without ExceptionStartTime");
        }
    }
    *out = v;
    *nout = i;
    return 0;
}

int eas_item_read(const struct eas_node *data,
                  struct arena *a,
                  struct eas_calmap_event *ev,
                  struct err *err)
{
    memset(ev, 0, sizeof(*ev));
    struct common f = {&ev->present,
                       &ev->start_time,
                       &ev->end_time,
                       &ev->dtstamp,
                       &ev->subject,
                       &ev->location,
                       &ev->body,
                       &ev->all_day,
                       &ev->busy_status,
                       &ev->sensitivity,
                       &ev->reminder,
                       &ev->meeting_status,
                       &ev->attendees,
                       &ev->nattendees,
                       &ev->categories,
                       &ev->ncategories,
                       ev};
    for (const struct eas_node *c = data ? data->child : NULL; c; c = c->next) {
        int rc = read_common(c, a, &f, err);
        if (rc < 0) {
            return -1;
        }
        if (rc == 0) {
            continue;
        }
        int v = 0;
        switch (c->tag) {
        case EAS_CAL_TIMEZONE:
            ev->timezone = node_str(a, c);
            ev->present |= EAS_CALMAP_TIMEZONE;
            break;
        case EAS_CAL_UID:
            ev->uid = node_str(a, c);
            ev->present |= EAS_CALMAP_UID;
            break;
        case EAS_CAL_ORGANIZERNAME:
            ev->organizer_name = node_str(a, c);
            ev->present |= EAS_CALMAP_ORGANIZER;
            break;
        case EAS_CAL_ORGANIZEREMAIL:
            ev->organizer_email = node_str(a, c);
            ev->present |= EAS_CALMAP_ORGANIZER;
            break;
        case EAS_CAL_RECURRENCE:
            if (read_recurrence(c, a, &ev->recurrence, err) != 0) {
                return -1;
            }
            ev->present |= EAS_CALMAP_RECURRENCE;
            break;
        case EAS_CAL_EXCEPTIONS:
            if (read_exceptions(c, a, &ev->exceptions, &ev->nexceptions, err) != 0) {
                return -1;
            }
            ev->present |= EAS_CALMAP_EXCEPTIONS;
            break;
        case EAS_CAL_RESPONSEREQUESTED:
            if (read_int(c, 1, &v, err) != 0) {
                return -1;
            }
            ev->response_requested = v != 0;
            ev->present |= EAS_CALMAP_RESPONSEREQUESTED;
            break;
        case EAS_CAL_DISALLOWNEWTIMEPROPOSAL:
            if (read_int(c, 1, &v, err) != 0) {
                return -1;
            }
            ev->disallow_new_time_proposal = v != 0;
            ev->present |= EAS_CALMAP_DISALLOWNEWTIMEPROPOSAL;
            break;
        default:
            break; /* ClientUid, ResponseType, … : nothing to store */
        }
    }
    return 0;
}

bool eas_item_body_truncated(const struct eas_node *data)
{
    uint64_t v = 0;
    const struct eas_node *t =
        eas_node_child(eas_node_child(data, EAS_ASB_BODY), EAS_ASB_TRUNCATED);
    return t && eas_node_uint(t, 1, &v) == 0 && v == 1;
}

/* The bit of a Supported child (ghosting, MS-ASCMD 2.2.3.164), 0 when not ghostable. */
uint32_t eas_item_field_of(unsigned tag)
{
    switch (tag) {
    case EAS_CAL_TIMEZONE:
        return EAS_CALMAP_TIMEZONE;
    case EAS_CAL_ALLDAYEVENT:
        return EAS_CALMAP_ALLDAY;
    case EAS_CAL_BUSYSTATUS:
        return EAS_CALMAP_BUSYSTATUS;
    case EAS_CAL_ORGANIZERNAME:
    case EAS_CAL_ORGANIZEREMAIL:
        return EAS_CALMAP_ORGANIZER;
    case EAS_CAL_DTSTAMP:
        return EAS_CALMAP_DTSTAMP;
    case EAS_CAL_ENDTIME:
        return EAS_CALMAP_ENDTIME;
    case EAS_CAL_LOCATION:
        return EAS_CALMAP_LOCATION;
    case EAS_CAL_REMINDER:
        return EAS_CALMAP_REMINDER;
    case EAS_CAL_SENSITIVITY:
        return EAS_CALMAP_SENSITIVITY;
    case EAS_CAL_SUBJECT:
        return EAS_CALMAP_SUBJECT;
    case EAS_CAL_STARTTIME:
        return EAS_CALMAP_STARTTIME;
    case EAS_CAL_UID:
        return EAS_CALMAP_UID;
    case EAS_CAL_MEETINGSTATUS:
        return EAS_CALMAP_MEETINGSTATUS;
    case EAS_CAL_ATTENDEES:
        return EAS_CALMAP_ATTENDEES;
    case EAS_CAL_CATEGORIES:
        return EAS_CALMAP_CATEGORIES;
    case EAS_CAL_RECURRENCE:
        return EAS_CALMAP_RECURRENCE;
    case EAS_CAL_EXCEPTIONS:
        return EAS_CALMAP_EXCEPTIONS;
    case EAS_ASB_BODY:
    case EAS_CAL_BODY:
        return EAS_CALMAP_BODY;
    default:
        return 0;
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Stored objects as items of the requesting user */

int eas_item_from_ical(struct eas_req *er,
                       struct slice ics,
                       struct eas_calmap_event *ev,
                       struct err *err)
{
    struct eas_calmap_opts o = {.version = er->version, .now = time_now()};
    if (er->emails_read && er->nemails) {
        o.principal = er->emails[0];
        o.also = er->emails + 1;
        o.nalso = er->nemails - 1;
    }
    return eas_calmap_from_ical_opts(ics, &o, er->arena, ev, err);
}
