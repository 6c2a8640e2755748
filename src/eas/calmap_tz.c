/* eas/calmap_tz.c: the ActiveSync Timezone blob (TIME_ZONE_INFORMATION, MS-ASDTYPE 2.7.6;
 * activesync.md §4.3): a zone's rules for one year as Bias and two SYSTEMTIME transition
 * rules, the 172 little-endian bytes and their base64, and back to a VTIMEZONE. Owns the
 * short list of common zones with their Windows names (CLDR windowsZones). Never keeps
 * state; builtin zones come from cal's process-wide cache (cal/edit.h). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cal/edit.h"
#include "eas/calmap.h"
#include "eas/calmap_int.h"
#include "util/sec.h"
#include "util/timeutil.h"

/* Common zones, IANA name and Windows name (CLDR windowsZones.xml, territory 001). A blob
 * decodes to the first of these whose rules match, preferring one its names point to
 * (activesync.md §4.3.2 step 2); Berlin precedes Paris, which shares its rules. */
static const struct {
    const char *iana;
    const char *windows;
} zones[] = {
    {"Europe/London", "GMT Standard Time"},
    {"Europe/Berlin", "W. Europe Standard Time"},
    {"Europe/Paris", "Romance Standard Time"},
    {"Europe/Helsinki", "FLE Standard Time"},
    {"Europe/Athens", "GTB Standard Time"},
    {"Europe/Moscow", "Russian Standard Time"},
    {"America/New_York", "Eastern Standard Time"},
    {"America/Chicago", "Central Standard Time"},
    {"America/Denver", "Mountain Standard Time"},
    {"America/Phoenix", "US Mountain Standard Time"},
    {"America/Los_Angeles", "Pacific Standard Time"},
    {"America/Anchorage", "Alaskan Standard Time"},
    {"Pacific/Honolulu", "Hawaiian Standard Time"},
    {"America/Sao_Paulo", "E. South America Standard Time"},
    {"Asia/Tokyo", "Tokyo Standard Time"},
    {"Asia/Shanghai", "China Standard Time"},
    {"Asia/Kolkata", "India Standard Time"},
    {"Asia/Dubai", "Arabian Standard Time"},
    {"Australia/Sydney", "AUS Eastern Standard Time"},
    {"Australia/Brisbane", "E. Australia Standard Time"},
    {"Pacific/Auckland", "New Zealand Standard Time"},
    {"Africa/Johannesburg", "South Africa Standard Time"},
};

#define NZONES (sizeof(zones) / sizeof(zones[0]))

/* The list entry that `name` (IANA or Windows, or libical's prefixed TZID ending in an IANA
 * name) stands for, or -1. */
static int zone_index(const char *name)
{
    if (!name) {
        return -1;
    }
    size_t n = strlen(name);
    for (size_t i = 0; i < NZONES; i++) {
        size_t k = strlen(zones[i].iana);
        if (strcmp(name, zones[i].windows) == 0 || strcmp(name, zones[i].iana) == 0 ||
            (n > k && name[n - k - 1] == '/' && strcmp(name + n - k, zones[i].iana) == 0)) {
            return (int)i;
        }
    }
    return -1;
}

struct cal_zone *eas_calmap_builtin_zone(const char *tzid)
{
    if (!tzid || !*tzid) {
        return NULL;
    }
    if (strcasecmp(tzid, "UTC") == 0 || strcasecmp(tzid, "Etc/UTC") == 0) {
        return cal_zone_utc();
    }
    int i = zone_index(tzid);
    return cal_zone_named(i >= 0 ? zones[i].iana : tzid);
}

/* ---------------------------------------------------------------------------------------- */
/* Rules of a zone in one year */

static int offset_at(const struct cal_zone *zone, int64_t t)
{
    return cal_zone_offset(zone, t);
}

/* The first second in (lo, hi] whose offset differs from lo's (which hi's does). */
static int64_t change_in(const struct cal_zone *zone, int64_t lo, int64_t hi)
{
    int before = offset_at(zone, lo);
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (offset_at(zone, mid) == before) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return hi;
}

/* SYSTEMTIME rule of the switch at UTC instant `t`, whose wall clock before it runs at
 * `before_offset` seconds east of UTC: month, weekday, n-th (5 = last) and the time. */
static struct eas_calmap_systime rule_of(int64_t t, int before_offset)
{
    struct cal_time l = cal_time_of(t + before_offset, NULL);
    struct eas_calmap_systime st = {0};
    st.month = (uint16_t)l.month;
    st.day_of_week = (uint16_t)cal_time_weekday(l);
    st.day = (uint16_t)((l.day - 1) / 7 + 1);
    if (l.day + 7 > cal_days_in_month(l.month, l.year)) {
        st.day = 5; /* the last such weekday: "last Sunday" rules stay right every year */
    }
    st.hour = (uint16_t)l.hour;
    st.minute = (uint16_t)l.minute;
    st.second = (uint16_t)l.second;
    return st;
}

static void set_name(char *dst, size_t cap, const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n >= cap) {
        n = cap - 1;
    }
    memcpy(dst, name ? name : "", n);
    dst[n] = '\0';
}

/* The year whose rules stand for `year`'s: past next year, next year's. The rules of a year
 * to come are a zone's current ones unless its database has a change scheduled, which it has
 * a year or so ahead at most; and the offsets of a far year make libical walk the zone's
 * rules from their start to that year (to 2582 at most) through ICU: for the short list's
 * zones, seconds of CPU for one ActiveSync Add in the year 4052 (fuzz_eas, issue 14). */
static int rules_year(int year)
{
    int next = cal_time_of(time_now(), NULL).year + 1;
    return year > next ? next : year;
}

void eas_calmap_tz_from_zone(const struct cal_zone *zone,
                             const char *tzid,
                             int year,
                             struct eas_calmap_tz *out)
{
    memset(out, 0, sizeof(*out));
    year = rules_year(year);
    if (zone == cal_zone_utc()) {
        zone = NULL;
    }
    struct cal_time jan1 = {.year = year, .month = 1, .day = 1};
    int64_t start = cal_time_to_unix(jan1, NULL);
    /* Day by day through the year (a zone changes at most a few times a year, never twice a
     * day), then to the second inside the day of each change. */
    int64_t up = 0, down = 0;
    int up_from = 0, up_to = 0, down_from = 0, down_to = 0;
    bool has_up = false, has_down = false;
    int prev = offset_at(zone, start);
    for (int d = 1; d <= 366 && zone; d++) {
        int64_t t = start + (int64_t)d * 86400;
        int cur = offset_at(zone, t);
        if (cur != prev) {
            int64_t at = change_in(zone, t - 86400, t);
            if (cur > prev && !has_up) {
                has_up = true;
                up = at;
                up_from = prev;
                up_to = cur;
            } else if (cur < prev && !has_down) {
                has_down = true;
                down = at;
                down_from = prev;
                down_to = cur;
            }
            prev = cur;
        }
    }
    int idx = zone_index(tzid);
    if (idx < 0 && zone) {
        /* cal's builtin zones carry their location (X-LIC-LOCATION) */
        idx = zone_index(cal_zone_location(zone));
        if (idx < 0) {
            idx = zone_index(cal_zone_tzid(zone));
        }
    }
    if (idx >= 0) {
        set_name(out->standard_name, sizeof(out->standard_name), zones[idx].windows);
        set_name(out->daylight_name, sizeof(out->daylight_name), zones[idx].windows);
    } /* UTC keeps empty names: 172 zero bytes, as Exchange sends it (§4.3) */
    if (!(has_up && has_down && up_from == down_to && up_to == down_from)) {
        out->bias = -offset_at(zone, start + 366 * 86400 - 1) / 60;
        return;
    }
    out->bias = -up_from / 60;
    out->daylight_bias = -(up_to - up_from) / 60;
    /* DaylightDate: standard -> daylight, in standard wall time; StandardDate the reverse,
     * in daylight wall time (activesync.md §4.3 semantics) */
    out->daylight_date = rule_of(up, up_from);
    out->standard_date = rule_of(down, down_from);
}

int eas_calmap_tz_from_tzid(const char *tzid, int year, struct eas_calmap_tz *out, struct err *err)
{
    struct cal_zone *z = eas_calmap_builtin_zone(tzid);
    if (!z) {
        return err_set(err, &eas_cond_calmap_invalid, "time zone %s is unknown", tzid ? tzid : "");
    }
    eas_calmap_tz_from_zone(z, tzid, year, out);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* The 172 bytes */

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v & 0xff);
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, int32_t v)
{
    uint32_t u = (uint32_t)v;
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(u >> (8 * i));
    }
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static int32_t get32(const uint8_t *p)
{
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    return (int32_t)u;
}

/* MS-ASDTYPE 2.7.6: StandardName and DaylightName are each "an array of 32 WCHARs", any
 * unused one set to 0x0000. The field has a fixed length, so a name may fill all 32 units
 * with no NUL after it; the decoder reads such a name whole, and the encoder writes one
 * back whole, so that a client's blob survives decode and encode unchanged (the names the
 * server makes itself, Windows zone names, are at most 31 units). */
enum {
    TZ_NAME_UNITS = 32
};

_Static_assert(sizeof(((struct eas_calmap_tz *)0)->standard_name) > 3 * TZ_NAME_UNITS &&
                   sizeof(((struct eas_calmap_tz *)0)->daylight_name) > 3 * TZ_NAME_UNITS,
               "a decoded name of 32 BMP units fits with its NUL");

/* UTF-8 `s` as at most TZ_NAME_UNITS UTF-16LE units, NUL-padded to 64 bytes (BMP only: a
 * character outside it, or a malformed byte, becomes '?'). */
static void put_name(uint8_t *p, const char *s)
{
    memset(p, 0, 2 * TZ_NAME_UNITS);
    const unsigned char *u = (const unsigned char *)s;
    for (size_t n = 0; *u && n < TZ_NAME_UNITS; n++) {
        uint32_t cp = '?';
        if (u[0] < 0x80) {
            cp = u[0];
            u += 1;
        } else if ((u[0] & 0xe0) == 0xc0 && (u[1] & 0xc0) == 0x80) {
            cp = (uint32_t)(u[0] & 0x1f) << 6 | (u[1] & 0x3f);
            u += 2;
        } else if ((u[0] & 0xf0) == 0xe0 && (u[1] & 0xc0) == 0x80 && (u[2] & 0xc0) == 0x80) {
            cp = (uint32_t)(u[0] & 0x0f) << 12 | (uint32_t)(u[1] & 0x3f) << 6 | (u[2] & 0x3f);
            u += 3;
        } else {
            u += 1;
            while ((*u & 0xc0) == 0x80) {
                u++;
            }
        }
        put16(p + 2 * n, (uint16_t)cp);
    }
}

/* TZ_NAME_UNITS UTF-16LE units up to the first NUL, if any, as UTF-8 (surrogates become
 * '?'). `cap` holds 3 bytes per unit and the NUL. */
static void get_name(const uint8_t *p, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < TZ_NAME_UNITS; i++) {
        uint16_t c = get16(p + 2 * i);
        if (c == 0) {
            break;
        }
        if (c >= 0xd800 && c <= 0xdfff) {
            c = '?';
        }
        if (c < 0x80 && o + 1 < cap) {
            out[o++] = (char)c;
        } else if (c < 0x800 && o + 2 < cap) {
            out[o++] = (char)(0xc0 | (c >> 6));
            out[o++] = (char)(0x80 | (c & 0x3f));
        } else if (c >= 0x800 && o + 3 < cap) {
            out[o++] = (char)(0xe0 | (c >> 12));
            out[o++] = (char)(0x80 | ((c >> 6) & 0x3f));
            out[o++] = (char)(0x80 | (c & 0x3f));
        }
    }
    out[o] = '\0';
}

static void put_systime(uint8_t *p, const struct eas_calmap_systime *st)
{
    const uint16_t v[8] = {st->year, st->month,  st->day_of_week, st->day,
                           st->hour, st->minute, st->second,      st->ms};
    for (int i = 0; i < 8; i++) {
        put16(p + 2 * i, v[i]);
    }
}

static void get_systime(const uint8_t *p, struct eas_calmap_systime *st)
{
    st->year = get16(p);
    st->month = get16(p + 2);
    st->day_of_week = get16(p + 4);
    st->day = get16(p + 6);
    st->hour = get16(p + 8);
    st->minute = get16(p + 10);
    st->second = get16(p + 12);
    st->ms = get16(p + 14);
}

const char *eas_calmap_tz_encode(const struct eas_calmap_tz *tz, struct arena *arena)
{
    uint8_t b[EAS_CALMAP_TZ_BLOB_LEN];
    put32(b, tz->bias);
    put_name(b + 4, tz->standard_name);
    put_systime(b + 68, &tz->standard_date);
    put32(b + 84, tz->standard_bias);
    put_name(b + 88, tz->daylight_name);
    put_systime(b + 152, &tz->daylight_date);
    put32(b + 168, tz->daylight_bias);
    size_t n = sec_base64_len(sizeof(b));
    char *out = arena_alloc(arena, n);
    sec_base64(b, sizeof(b), out, n);
    return out;
}

static bool systime_ok(const struct eas_calmap_systime *st)
{
    if (st->month == 0) {
        return true;
    }
    if (st->month > 12 || st->day_of_week > 6 || st->hour > 23 || st->minute > 59 ||
        st->second > 59 || st->ms > 999) {
        return false;
    }
    /* the absolute form names a day that exists, at least in a leap year (no 31 April) */
    return st->year == 0 ? st->day >= 1 && st->day <= 5
                         : st->day >= 1 && st->day <= cal_days_in_month(st->month, 1972);
}

int eas_calmap_tz_decode(struct slice b64, struct eas_calmap_tz *out, struct err *err)
{
    uint8_t b[EAS_CALMAP_TZ_BLOB_LEN + 1];
    long n = sec_unbase64(b64, b, sizeof(b));
    if (n != EAS_CALMAP_TZ_BLOB_LEN) {
        return err_set(err, &eas_cond_calmap_invalid,
                       "Timezone is not base64 of %d bytes (decoded length %ld)",
                       EAS_CALMAP_TZ_BLOB_LEN, n);
    }
    memset(out, 0, sizeof(*out));
    out->bias = get32(b);
    get_name(b + 4, out->standard_name, sizeof(out->standard_name));
    get_systime(b + 68, &out->standard_date);
    out->standard_bias = get32(b + 84);
    get_name(b + 88, out->daylight_name, sizeof(out->daylight_name));
    get_systime(b + 152, &out->daylight_date);
    out->daylight_bias = get32(b + 168);
    if (out->bias < -1440 || out->bias > 1440 || out->standard_bias < -1440 ||
        out->standard_bias > 1440 || out->daylight_bias < -1440 || out->daylight_bias > 1440) {
        return err_set(err, &eas_cond_calmap_invalid, "Timezone bias %d is out of range",
                       (int)out->bias);
    }
    if (!systime_ok(&out->standard_date) || !systime_ok(&out->daylight_date)) {
        return err_set(err, &eas_cond_calmap_invalid, "Timezone holds an impossible rule date");
    }
    if (out->standard_date.month == 0 || out->daylight_date.month == 0) {
        /* MS-ASDTYPE: no DST unless both dates are given */
        memset(&out->standard_date, 0, sizeof(out->standard_date));
        memset(&out->daylight_date, 0, sizeof(out->daylight_date));
        out->daylight_bias = 0;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Blob -> VTIMEZONE */

static bool has_dst(const struct eas_calmap_tz *tz)
{
    return tz->standard_date.month != 0 && tz->daylight_date.month != 0;
}

static bool same_rule(const struct eas_calmap_systime *a, const struct eas_calmap_systime *b)
{
    return a->month == b->month && a->day_of_week == b->day_of_week && a->day == b->day &&
           a->hour == b->hour && a->minute == b->minute && a->year == b->year;
}

bool eas_calmap_tz_equal(const struct eas_calmap_tz *a, const struct eas_calmap_tz *b)
{
    if (a->bias + a->standard_bias != b->bias + b->standard_bias || has_dst(a) != has_dst(b)) {
        return false;
    }
    if (!has_dst(a)) {
        return true;
    }
    return a->bias + a->daylight_bias == b->bias + b->daylight_bias &&
           same_rule(&a->standard_date, &b->standard_date) &&
           same_rule(&a->daylight_date, &b->daylight_date);
}

/* "+HHMM" (or "+HHMMSS") of `secs` east of UTC. */
static const char *offset_text(int secs, struct arena *arena)
{
    int a = abs(secs);
    if (a % 60) {
        return arena_printf(arena, "%c%02d%02d%02d", secs < 0 ? '-' : '+', a / 3600, (a / 60) % 60,
                            a % 60);
    }
    return arena_printf(arena, "%c%02d%02d", secs < 0 ? '-' : '+', a / 3600, (a / 60) % 60);
}

/* The first day in 1970 matching rule `st` (the DTSTART of its observance). */
static int first_day_1970(const struct eas_calmap_systime *st)
{
    if (st->year != 0) {
        return st->day;
    }
    struct cal_time t = {.year = 1970, .month = st->month, .day = 1, .is_date = true};
    int first_dow = cal_time_weekday(t);
    int day = 1 + (st->day_of_week - first_dow + 7) % 7 + 7 * (st->day - 1);
    int dim = cal_days_in_month(st->month, 1970);
    while (day > dim) {
        day -= 7;
    }
    return day;
}

static const char *observance(
    const char *kind, const struct eas_calmap_systime *st, int from, int to, struct arena *arena)
{
    static const char *const dd[7] = {"SU", "MO", "TU", "WE", "TH", "FR", "SA"};
    /* 1970 has no 29 February: a rule on that day starts in 1972 (the observance's DTSTART
     * must be a real date; the RRULE then falls in leap years only, RFC 5545 3.3.10) */
    int base = st->year != 0 && st->month == 2 && st->day == 29 ? 1972 : 1970;
    const char *rule;
    if (st->year != 0) {
        /* the absolute form: kept as that day of the month every year (rare, §4.3) */
        rule = arena_printf(arena, "RRULE:FREQ=YEARLY;BYMONTH=%u;BYMONTHDAY=%u\r\n", st->month,
                            st->day);
    } else {
        rule = arena_printf(arena, "RRULE:FREQ=YEARLY;BYMONTH=%u;BYDAY=%d%s\r\n", st->month,
                            st->day == 5 ? -1 : st->day, dd[st->day_of_week]);
    }
    return arena_printf(arena,
                        "BEGIN:%s\r\nTZOFFSETFROM:%s\r\nTZOFFSETTO:%s\r\n"
                        "DTSTART:%d%02u%02dT%02u%02u%02u\r\n%sEND:%s\r\n",
                        kind, offset_text(from, arena), offset_text(to, arena), base, st->month,
                        first_day_1970(st), st->hour, st->minute, st->second, rule, kind);
}

/* A cheap test before the year's walk: the zone's offsets in mid-January and mid-July are
 * offsets the blob has. */
static bool offsets_fit(const struct cal_zone *z, const struct eas_calmap_tz *tz, int year)
{
    int std = -(tz->bias + tz->standard_bias) * 60;
    int dst = has_dst(tz) ? -(tz->bias + tz->daylight_bias) * 60 : std;
    struct cal_time t = {.year = year, .day = 15};
    for (int month = 1; month <= 7; month += 6) {
        t.month = month;
        int off = offset_at(z, cal_time_to_unix(t, NULL));
        if (off != std && off != dst) {
            return false;
        }
    }
    return true;
}

void eas_calmap_tz_to_vtimezone(const struct eas_calmap_tz *tz,
                                int year,
                                struct arena *arena,
                                const char **tzid_out,
                                struct slice *vtimezone_out)
{
    year = rules_year(year);
    int std = -(tz->bias + tz->standard_bias) * 60;
    int dst = -(tz->bias + tz->daylight_bias) * 60;
    if (!has_dst(tz) && std == 0) {
        *tzid_out = "UTC";
        *vtimezone_out = (struct slice){"", 0};
        return;
    }
    /* A zone of the short list with these rules: the one the blob names first, else the
     * first in list order. */
    const char *tzid = NULL;
    int named = zone_index(tz->standard_name);
    if (named < 0) {
        named = zone_index(tz->daylight_name);
    }
    for (int pass = 0; pass < 2 && !tzid; pass++) {
        for (size_t i = 0; i < NZONES && !tzid; i++) {
            if ((pass == 0) != ((int)i == named)) {
                continue;
            }
            struct cal_zone *z = cal_zone_named(zones[i].iana);
            struct eas_calmap_tz cand;
            if (z && offsets_fit(z, tz, year)) {
                eas_calmap_tz_from_zone(z, zones[i].iana, year, &cand);
                if (eas_calmap_tz_equal(&cand, tz)) {
                    tzid = zones[i].iana;
                }
            }
        }
    }
    if (!tzid) {
        uint8_t h[32];
        char hex[17];
        const char *b64 = eas_calmap_tz_encode(tz, arena);
        sec_hash(NULL, 0, b64, strlen(b64), h);
        sec_hex(h, 4, hex);
        tzid = arena_printf(arena, "EAS-%s", hex);
    }
    const char *body;
    if (!has_dst(tz)) {
        body = arena_printf(arena,
                            "BEGIN:STANDARD\r\nTZOFFSETFROM:%s\r\nTZOFFSETTO:%s\r\n"
                            "DTSTART:19700101T000000\r\nEND:STANDARD\r\n",
                            offset_text(std, arena), offset_text(std, arena));
    } else {
        body =
            arena_printf(arena, "%s%s", observance("STANDARD", &tz->standard_date, dst, std, arena),
                         observance("DAYLIGHT", &tz->daylight_date, std, dst, arena));
    }
    char *text =
        arena_printf(arena, "BEGIN:VTIMEZONE\r\nTZID:%s\r\n%sEND:VTIMEZONE\r\n", tzid, body);
    *tzid_out = tzid;
    *vtimezone_out = (struct slice){text, strlen(text)};
}
