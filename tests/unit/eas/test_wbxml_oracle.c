/* tests/unit/eas/test_wbxml_oracle.c: the WBXML codec against an independent one, Debian's
 * libwbxml 0.11.8 (`wbxml2xml`, `xml2wbxml` from libwbxml2-utils; brief activesync.md §6.2
 * item 2 and the quirks of §6.3). Each fixture is one request or response shape of the
 * brief's commands. Both ways:
 *   - our encoder's bytes go through `wbxml2xml -l ACTIVESYNC -k -m 0`, whose XML must name
 *     the same elements (in libwbxml's spelling, §6.3 #2 and #10), in the same namespaces,
 *     with the same text, and hold no <unknown> (§6.3 #8);
 *   - the fixture written as XML in libwbxml's names, `Calendar:`-style namespaces and the
 *     DOCTYPE (§6.3 #4, #5) goes through `xml2wbxml -k -a -n -v 1.3`, and our decoder must
 *     read exactly the fixture's (page, token, text), never names alone (§6.3 #3); the
 *     bytes must also equal our encoder's.
 * A last fixture holds every tag of eas/tokens.def that libwbxml 0.11.8 knows, which
 * cross-checks every token number of §2.3. The test fails when the tools are missing. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "eas/wbxml.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/compiler.h"
#include "util/sec.h"

extern char **environ;

enum {
    TRACE_LIMIT = 1 << 20,
    FILE_LIMIT = 1 << 20,
    FX_MAX_DEPTH = 16,
    PATH_BYTES = 256,
};

/* --- libwbxml's names (§6.3 #2, #10) ----------------------------------------------------- */

/* libwbxml 0.11.8's name of a tag where it is not the spec's; NULL where it is. */
static const char *libwbxml_rename(unsigned tag)
{
    switch (tag) {
    case EAS_CAL_TIMEZONE:
        return "TimeZone";
    case EAS_CAL_EMAIL:
        return "Attendee_Email";
    case EAS_CAL_NAME:
        return "Attendee_Name";
    case EAS_CAL_ATTENDEESTATUS:
        return "Attendee_Status";
    case EAS_CAL_ATTENDEETYPE:
        return "Attendee_Type";
    case EAS_CAL_DTSTAMP:
        return "DTStamp";
    case EAS_CAL_DELETED:
        return "Exception_Deleted";
    case EAS_CAL_EXCEPTIONSTARTTIME:
        return "Exception_StartTime";
    case EAS_CAL_ORGANIZEREMAIL:
        return "Organizer_Email";
    case EAS_CAL_ORGANIZERNAME:
        return "Organizer_Name";
    case EAS_CAL_TYPE:
        return "Recurrence_Type";
    case EAS_CAL_UNTIL:
        return "Recurrence_Until";
    case EAS_CAL_OCCURRENCES:
        return "Recurrence_Occurrences";
    case EAS_CAL_INTERVAL:
        return "Recurrence_Interval";
    case EAS_CAL_DAYOFWEEK:
        return "Recurrence_DayOfWeek";
    case EAS_CAL_DAYOFMONTH:
        return "Recurrence_DayOfMonth";
    case EAS_CAL_WEEKOFMONTH:
        return "Recurrence_WeekOfMonth";
    case EAS_CAL_MONTHOFYEAR:
        return "Recurrence_MonthOfYear";
    case EAS_CAL_RTF:
        return "Compressed_RTF";
    case EAS_PROV_REQUIRESTORAGECARDENCRYPTION:
        return "DeviceEncryptionEnabled";
    case EAS_SET_SMTPADDRESS:
        return "SmtpAddress";
    case EAS_SET_RIGHTSMANAGEMENTINFORMATION:
        return "ihsManagementInformation"; /* sic */
    default:
        return NULL;
    }
}

static const char *libwbxml_name(unsigned tag)
{
    const char *r = libwbxml_rename(tag);
    return r ? r : eas_tag_name(tag);
}

/* Tags libwbxml 0.11.8 lacks (§6.3 #10), left out of the all-tags fixture. */
static bool libwbxml_lacks(unsigned tag)
{
    return tag == EAS_PROV_ACCOUNTONLYREMOTEWIPE || tag == EAS_MR_PROPOSEDSTARTTIME ||
           tag == EAS_MR_PROPOSEDENDTIME;
}

/* Elements libwbxml treats as binary: OPAQUE on the wire, base64 in its XML (§6.3 #9). */
static bool libwbxml_binary(unsigned tag)
{
    return tag == EAS_ASB_CONTENT || tag == EAS_IO_CONVERSATIONID || tag == EAS_RR_DATA;
}

/* --- fixtures ---------------------------------------------------------------------------- */

/* One element in document order: depth (root 1), tag, and text (NULL: children follow, or
 * none and the element is empty). Opaque text goes as OPAQUE (binary elements only). */
struct fx_node {
    unsigned depth;
    unsigned tag;
    const char *text;
    size_t len;
    bool opaque;
};

#define N(d, t)              \
  {                          \
    (d), (t), NULL, 0, false \
  }
#define T(d, t, s)                      \
  {                                     \
    (d), (t), (s), sizeof(s) - 1, false \
  }
#define O(d, t, s)                     \
  {                                    \
    (d), (t), (s), sizeof(s) - 1, true \
  }

/* MS-ASPROV initial request, with the 14.1 DeviceInformation (§3.1). */
static const struct fx_node provision_request[] = {
    N(1, EAS_PROV_PROVISION),
    N(2, EAS_SET_DEVICEINFORMATION),
    N(3, EAS_SET_SET),
    T(4, EAS_SET_MODEL, "Pixel 8"),
    T(4, EAS_SET_IMEI, "356938035643809"),
    T(4, EAS_SET_FRIENDLYNAME, "Ana's phone"),
    T(4, EAS_SET_OS, "Android 14"),
    T(4, EAS_SET_OSLANGUAGE, "en"),
    T(4, EAS_SET_PHONENUMBER, "+15551234"),
    T(4, EAS_SET_USERAGENT, "Android-Mail/2024"),
    T(4, EAS_SET_MOBILEOPERATOR, "Op"),
    T(4, EAS_SET_ENABLEOUTBOUNDSMS, "0"),
    N(2, EAS_PROV_POLICIES),
    N(3, EAS_PROV_POLICY),
    T(4, EAS_PROV_POLICYTYPE, "MS-EAS-Provisioning-WBXML"),
};

/* The response carrying the policy document (§3.1). */
static const struct fx_node provision_response[] = {
    N(1, EAS_PROV_PROVISION),
    T(2, EAS_PROV_STATUS, "1"),
    N(2, EAS_SET_DEVICEINFORMATION),
    T(3, EAS_SET_STATUS, "1"),
    N(2, EAS_PROV_POLICIES),
    N(3, EAS_PROV_POLICY),
    T(4, EAS_PROV_POLICYTYPE, "MS-EAS-Provisioning-WBXML"),
    T(4, EAS_PROV_STATUS, "1"),
    T(4, EAS_PROV_POLICYKEY, "1307199584"),
    N(4, EAS_PROV_DATA),
    N(5, EAS_PROV_EASPROVISIONDOC),
    T(6, EAS_PROV_DEVICEPASSWORDENABLED, "0"),
    T(6, EAS_PROV_ALPHANUMERICDEVICEPASSWORDREQUIRED, "0"),
    T(6, EAS_PROV_REQUIRESTORAGECARDENCRYPTION, "0"),
    T(6, EAS_PROV_PASSWORDRECOVERYENABLED, "0"),
    T(6, EAS_PROV_ATTACHMENTSENABLED, "1"),
    T(6, EAS_PROV_MINDEVICEPASSWORDLENGTH, "1"),
    T(6, EAS_PROV_MAXINACTIVITYTIMEDEVICELOCK, "9999"),
    T(6, EAS_PROV_MAXDEVICEPASSWORDFAILEDATTEMPTS, "8"),
    N(6, EAS_PROV_MAXATTACHMENTSIZE),
    T(6, EAS_PROV_ALLOWSIMPLEDEVICEPASSWORD, "1"),
    N(6, EAS_PROV_DEVICEPASSWORDEXPIRATION),
    T(6, EAS_PROV_DEVICEPASSWORDHISTORY, "0"),
    T(6, EAS_PROV_ALLOWSTORAGECARD, "1"),
    T(6, EAS_PROV_ALLOWCAMERA, "1"),
    T(6, EAS_PROV_REQUIREDEVICEENCRYPTION, "0"),
    T(6, EAS_PROV_ALLOWWIFI, "1"),
    T(6, EAS_PROV_MAXCALENDARAGEFILTER, "0"),
    T(6, EAS_PROV_ALLOWHTMLEMAIL, "1"),
    N(6, EAS_PROV_UNAPPROVEDINROMAPPLICATIONLIST),
    N(6, EAS_PROV_APPROVEDAPPLICATIONLIST),
};

/* The acknowledgement with the temporary key, and a remote-wipe status (§3.1). */
static const struct fx_node provision_ack[] = {
    N(1, EAS_PROV_PROVISION),
    N(2, EAS_PROV_POLICIES),
    N(3, EAS_PROV_POLICY),
    T(4, EAS_PROV_POLICYTYPE, "MS-EAS-Provisioning-WBXML"),
    T(4, EAS_PROV_POLICYKEY, "1307199584"),
    T(4, EAS_PROV_STATUS, "1"),
    N(2, EAS_PROV_REMOTEWIPE),
};

static const struct fx_node foldersync_request[] = {
    N(1, EAS_FH_FOLDERSYNC),
    T(2, EAS_FH_SYNCKEY, "0"),
};

/* §3.2: a calendar and the dummy folders, one update and one delete. */
static const struct fx_node foldersync_response[] = {
    N(1, EAS_FH_FOLDERSYNC),
    T(2, EAS_FH_STATUS, "1"),
    T(2, EAS_FH_SYNCKEY, "1"),
    N(2, EAS_FH_CHANGES),
    T(3, EAS_FH_COUNT, "4"),
    N(3, EAS_FH_ADD),
    T(4, EAS_FH_SERVERID, "c1"),
    T(4, EAS_FH_PARENTID, "0"),
    T(4, EAS_FH_DISPLAYNAME, "Calendar"),
    T(4, EAS_FH_TYPE, "8"),
    N(3, EAS_FH_ADD),
    T(4, EAS_FH_SERVERID, "inbox"),
    T(4, EAS_FH_PARENTID, "0"),
    T(4, EAS_FH_DISPLAYNAME, "Inbox"),
    T(4, EAS_FH_TYPE, "2"),
    N(3, EAS_FH_UPDATE),
    T(4, EAS_FH_SERVERID, "c2"),
    T(4, EAS_FH_PARENTID, "0"),
    T(4, EAS_FH_DISPLAYNAME, "Work & Play <2>"),
    T(4, EAS_FH_TYPE, "13"),
    N(3, EAS_FH_DELETE),
    T(4, EAS_FH_SERVERID, "c3"),
};

/* §3.3.1: a Sync request with options, a client Add carrying every calendar element family
 * (time zone, attendees, recurrence, exceptions, categories, AirSyncBase body), a Change
 * and a Delete. */
static const struct fx_node sync_request[] = {
    N(1, EAS_AS_SYNC),
    N(2, EAS_AS_COLLECTIONS),
    N(3, EAS_AS_COLLECTION),
    T(4, EAS_AS_SYNCKEY, "1479230781"),
    T(4, EAS_AS_COLLECTIONID, "c1"),
    T(4, EAS_AS_DELETESASMOVES, "1"),
    N(4, EAS_AS_GETCHANGES),
    T(4, EAS_AS_WINDOWSIZE, "25"),
    N(4, EAS_AS_OPTIONS),
    T(5, EAS_AS_FILTERTYPE, "4"),
    N(5, EAS_ASB_BODYPREFERENCE),
    T(6, EAS_ASB_TYPE, "1"),
    T(6, EAS_ASB_TRUNCATIONSIZE, "32768"),
    T(6, EAS_ASB_ALLORNONE, "0"),
    N(4, EAS_AS_COMMANDS),
    N(5, EAS_AS_ADD),
    T(6, EAS_AS_CLIENTID, "client-1"),
    N(6, EAS_AS_APPLICATIONDATA),
    T(7,
      EAS_CAL_TIMEZONE,
      "xP///ygAVQBUAEMAKQAgAEMAbwBvAHIAZABpAG4AYQB0AGUAZAAgAFUAbgBpAHYAZQByAHMAYQBsACAAVABpAG0A"
      "ZQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="),
    T(7, EAS_CAL_ALLDAYEVENT, "0"),
    T(7, EAS_CAL_STARTTIME, "20261202T100000Z"),
    T(7, EAS_CAL_ENDTIME, "20261202T110000Z"),
    T(7, EAS_CAL_DTSTAMP, "20261201T080000Z"),
    T(7, EAS_CAL_SUBJECT, "  Lunch & Learn <caf\xc3\xa9>  "),
    T(7, EAS_CAL_UID, "040000008200E00074C5B7101A82E008"),
    T(7, EAS_CAL_LOCATION, "Room 1"),
    T(7, EAS_CAL_BUSYSTATUS, "2"),
    T(7, EAS_CAL_SENSITIVITY, "0"),
    T(7, EAS_CAL_MEETINGSTATUS, "1"),
    T(7, EAS_CAL_REMINDER, "15"),
    T(7, EAS_CAL_ORGANIZEREMAIL, "ana@example.org"),
    T(7, EAS_CAL_ORGANIZERNAME, "Ana"),
    N(7, EAS_CAL_ATTENDEES),
    N(8, EAS_CAL_ATTENDEE),
    T(9, EAS_CAL_EMAIL, "bo@example.org"),
    T(9, EAS_CAL_NAME, "Bo"),
    T(9, EAS_CAL_ATTENDEESTATUS, "3"),
    T(9, EAS_CAL_ATTENDEETYPE, "1"),
    N(7, EAS_CAL_RECURRENCE),
    T(8, EAS_CAL_TYPE, "1"),
    T(8, EAS_CAL_INTERVAL, "2"),
    T(8, EAS_CAL_DAYOFWEEK, "42"),
    T(8, EAS_CAL_UNTIL, "20271231T000000Z"),
    T(8, EAS_CAL_FIRSTDAYOFWEEK, "1"),
    N(7, EAS_CAL_EXCEPTIONS),
    N(8, EAS_CAL_EXCEPTION),
    T(9, EAS_CAL_DELETED, "1"),
    T(9, EAS_CAL_EXCEPTIONSTARTTIME, "20261216T100000Z"),
    N(8, EAS_CAL_EXCEPTION),
    T(9, EAS_CAL_EXCEPTIONSTARTTIME, "20261230T100000Z"),
    T(9, EAS_CAL_SUBJECT, "moved"),
    N(7, EAS_CAL_CATEGORIES),
    T(8, EAS_CAL_CATEGORY, "Work"),
    T(8, EAS_CAL_CATEGORY, "Food"),
    N(7, EAS_ASB_BODY),
    T(8, EAS_ASB_TYPE, "1"),
    T(8, EAS_ASB_DATA, "line 1\r\nline 2\n"),
    T(7, EAS_CAL_RESPONSEREQUESTED, "1"),
    T(7, EAS_CAL_DISALLOWNEWTIMEPROPOSAL, "0"),
    N(5, EAS_AS_CHANGE),
    T(6, EAS_AS_SERVERID, "c1:42"),
    N(6, EAS_AS_APPLICATIONDATA),
    T(7, EAS_CAL_SUBJECT, "renamed"),
    N(7, EAS_CAL_RECURRENCE),
    T(8, EAS_CAL_TYPE, "5"),
    T(8, EAS_CAL_MONTHOFYEAR, "2"),
    T(8, EAS_CAL_DAYOFMONTH, "29"),
    T(8, EAS_CAL_OCCURRENCES, "10"),
    T(8, EAS_CAL_ISLEAPMONTH, "0"),
    T(8, EAS_CAL_CALENDARTYPE, "1"),
    N(5, EAS_AS_DELETE),
    T(6, EAS_AS_SERVERID, "c1:43"),
};

/* §3.3.2: responses to the client's commands, server changes with 16.x elements, a soft
 * delete, MoreAvailable. */
static const struct fx_node sync_response[] = {
    N(1, EAS_AS_SYNC),
    N(2, EAS_AS_COLLECTIONS),
    N(3, EAS_AS_COLLECTION),
    T(4, EAS_AS_SYNCKEY, "1479230782"),
    T(4, EAS_AS_COLLECTIONID, "c1"),
    T(4, EAS_AS_STATUS, "1"),
    N(4, EAS_AS_RESPONSES),
    N(5, EAS_AS_ADD),
    T(6, EAS_AS_CLIENTID, "client-1"),
    T(6, EAS_AS_SERVERID, "c1:44"),
    T(6, EAS_AS_STATUS, "1"),
    N(5, EAS_AS_CHANGE),
    T(6, EAS_AS_SERVERID, "c1:42"),
    T(6, EAS_AS_STATUS, "7"),
    N(4, EAS_AS_COMMANDS),
    N(5, EAS_AS_ADD),
    T(6, EAS_AS_SERVERID, "c1:45"),
    N(6, EAS_AS_APPLICATIONDATA),
    T(7, EAS_CAL_SUBJECT, "standup"),
    T(7, EAS_CAL_STARTTIME, "20261203T090000Z"),
    T(7, EAS_CAL_ENDTIME, "20261203T091500Z"),
    N(7, EAS_ASB_BODY),
    T(8, EAS_ASB_TYPE, "1"),
    T(8, EAS_ASB_ESTIMATEDDATASIZE, "2048"),
    T(8, EAS_ASB_TRUNCATED, "1"),
    T(8, EAS_ASB_DATA, "first 512 bytes"),
    T(8, EAS_ASB_PREVIEW, "first"),
    T(7, EAS_ASB_NATIVEBODYTYPE, "1"),
    N(7, EAS_ASB_LOCATION),
    T(8, EAS_ASB_DISPLAYNAME, "Room 1"),
    T(8, EAS_ASB_ANNOTATION, "2nd floor"),
    T(8, EAS_ASB_CITY, "Lisbon"),
    T(8, EAS_ASB_LATITUDE, "38.7"),
    T(8, EAS_ASB_LONGITUDE, "-9.1"),
    T(7, EAS_CAL_RESPONSETYPE, "1"),
    T(7, EAS_CAL_APPOINTMENTREPLYTIME, "20261201T120000Z"),
    T(7, EAS_CAL_ONLINEMEETINGCONFLINK, "sip:x@example.org"),
    T(7, EAS_CAL_CLIENTUID, "abc-123"),
    N(5, EAS_AS_CHANGE),
    T(6, EAS_AS_SERVERID, "c1:46"),
    N(6, EAS_AS_APPLICATIONDATA),
    T(7, EAS_ASB_INSTANCEID, "20261204T090000Z"),
    T(7, EAS_CAL_DELETED, "1"),
    N(5, EAS_AS_DELETE),
    T(6, EAS_AS_SERVERID, "c1:47"),
    N(5, EAS_AS_SOFTDELETE),
    T(6, EAS_AS_SERVERID, "c1:48"),
    N(4, EAS_AS_MOREAVAILABLE),
};

/* §3.4 request (14.x form) and response. */
static const struct fx_node gie_request[] = {
    N(1, EAS_GIE_GETITEMESTIMATE),      N(2, EAS_GIE_COLLECTIONS),        N(3, EAS_GIE_COLLECTION),
    T(4, EAS_AS_SYNCKEY, "1479230782"), T(4, EAS_GIE_COLLECTIONID, "c1"), N(4, EAS_AS_OPTIONS),
    T(5, EAS_AS_FILTERTYPE, "4"),
};

static const struct fx_node gie_response[] = {
    N(1, EAS_GIE_GETITEMESTIMATE),    N(2, EAS_GIE_RESPONSE),
    T(3, EAS_GIE_STATUS, "1"),        N(3, EAS_GIE_COLLECTION),
    T(4, EAS_GIE_COLLECTIONID, "c1"), T(4, EAS_GIE_ESTIMATE, "100000"),
};

/* §3.5: the worked example of §2.1 as request, and a changes-found response. */
static const struct fx_node ping_request[] = {
    N(1, EAS_PING_PING),     T(2, EAS_PING_HEARTBEATINTERVAL, "480"),
    N(2, EAS_PING_FOLDERS),  N(3, EAS_PING_FOLDER),
    T(4, EAS_PING_ID, "c1"), T(4, EAS_PING_CLASS, "Calendar"),
};

static const struct fx_node ping_response[] = {
    N(1, EAS_PING_PING),
    T(2, EAS_PING_STATUS, "2"),
    N(2, EAS_PING_FOLDERS),
    T(3, EAS_PING_FOLDER, "c1"),
    T(3, EAS_PING_FOLDER, "c2"),
    T(2, EAS_PING_MAXFOLDERS, "200"),
    T(2, EAS_PING_HEARTBEATINTERVAL, "3540"),
};

/* §3.6 request and response. */
static const struct fx_node settings_request[] = {
    N(1, EAS_SET_SETTINGS),
    N(2, EAS_SET_DEVICEINFORMATION),
    N(3, EAS_SET_SET),
    T(4, EAS_SET_MODEL, "iPhone"),
    T(4, EAS_SET_OS, "iOS 17.1"),
    T(4, EAS_SET_USERAGENT, "Apple-iPhone/2101"),
    N(2, EAS_SET_USERINFORMATION),
    N(3, EAS_SET_GET),
    N(2, EAS_SET_OOF),
    N(3, EAS_SET_GET),
    T(4, EAS_SET_BODYTYPE, "Text"),
};

static const struct fx_node settings_response[] = {
    N(1, EAS_SET_SETTINGS),
    T(2, EAS_SET_STATUS, "1"),
    N(2, EAS_SET_DEVICEINFORMATION),
    T(3, EAS_SET_STATUS, "1"),
    N(2, EAS_SET_USERINFORMATION),
    T(3, EAS_SET_STATUS, "1"),
    N(3, EAS_SET_GET),
    N(4, EAS_SET_ACCOUNTS),
    N(5, EAS_SET_ACCOUNT),
    T(6, EAS_SET_USERDISPLAYNAME, "Ana"),
    N(6, EAS_SET_EMAILADDRESSES),
    T(7, EAS_SET_SMTPADDRESS, "ana@example.org"),
    T(7, EAS_SET_PRIMARYSMTPADDRESS, "ana@example.org"),
    N(2, EAS_SET_OOF),
    T(3, EAS_SET_STATUS, "1"),
    N(3, EAS_SET_GET),
    T(4, EAS_SET_OOFSTATE, "0"),
    N(4, EAS_SET_OOFMESSAGE),
    N(5, EAS_SET_APPLIESTOINTERNAL),
    T(5, EAS_SET_ENABLED, "0"),
};

/* §3.7: Fetch of one calendar item, and the response with its properties. */
static const struct fx_node io_request[] = {
    N(1, EAS_IO_ITEMOPERATIONS),          N(2, EAS_IO_FETCH),
    T(3, EAS_IO_STORE, "Mailbox"),        T(3, EAS_AS_COLLECTIONID, "c1"),
    T(3, EAS_AS_SERVERID, "c1:42"),       N(3, EAS_IO_OPTIONS),
    N(4, EAS_ASB_BODYPREFERENCE),         T(5, EAS_ASB_TYPE, "1"),
    T(5, EAS_ASB_TRUNCATIONSIZE, "5120"),
};

static const struct fx_node io_response[] = {
    N(1, EAS_IO_ITEMOPERATIONS),
    T(2, EAS_IO_STATUS, "1"),
    N(2, EAS_IO_RESPONSE),
    N(3, EAS_IO_FETCH),
    T(4, EAS_IO_STATUS, "1"),
    T(4, EAS_AS_COLLECTIONID, "c1"),
    T(4, EAS_AS_SERVERID, "c1:42"),
    T(4, EAS_AS_CLASS, "Calendar"),
    N(4, EAS_IO_PROPERTIES),
    T(5, EAS_CAL_SUBJECT, "renamed"),
    T(5, EAS_CAL_STARTTIME, "20261202T100000Z"),
    N(5, EAS_ASB_BODY),
    T(6, EAS_ASB_TYPE, "1"),
    T(6, EAS_ASB_DATA, "agenda"),
    N(5, EAS_ASB_ATTACHMENTS),
    N(6, EAS_ASB_ATTACHMENT),
    T(7, EAS_ASB_DISPLAYNAME, "a.txt"),
    T(7, EAS_ASB_FILEREFERENCE, "c1:42:0"),
    T(7, EAS_ASB_METHOD, "1"),
    N(3, EAS_IO_FETCH),
    T(4, EAS_IO_STATUS, "1"),
    T(4, EAS_ASB_FILEREFERENCE, "c1:42:0"),
    N(4, EAS_IO_PROPERTIES),
    T(5, EAS_IO_RANGE, "0-2"),
    T(5, EAS_IO_TOTAL, "3"),
    O(5, EAS_ASB_CONTENT, "a\0\xff"),
    N(2, EAS_IO_MOVE),
    O(3, EAS_IO_CONVERSATIONID, "\x01\x02\x03\x04"),
};

struct fixture {
    const char *name;
    const struct fx_node *nodes;
    size_t n;
};

#define FIXTURE(a)            \
  {                           \
#    a, (a), ALM_ARRAY_LEN(a) \
  }

static const struct fixture fixtures[] = {
    FIXTURE(provision_request),  FIXTURE(provision_response),  FIXTURE(provision_ack),
    FIXTURE(foldersync_request), FIXTURE(foldersync_response), FIXTURE(sync_request),
    FIXTURE(sync_response),      FIXTURE(gie_request),         FIXTURE(gie_response),
    FIXTURE(ping_request),       FIXTURE(ping_response),       FIXTURE(settings_request),
    FIXTURE(settings_response),  FIXTURE(io_request),          FIXTURE(io_response),
};

/* Every tag of tokens.def libwbxml knows, as children of one Sync: the whole of §2.3. */
static const unsigned all_tags[] = {
#define EAS_TAG(page, tok, sym, name) sym,
#include "eas/tokens.def"
#undef EAS_TAG
};

static struct fx_node all_nodes[ALM_ARRAY_LEN(all_tags) + 1];

static struct fixture all_tags_fixture(void)
{
    size_t n = 0;
    all_nodes[n++] = (struct fx_node)N(1, EAS_AS_SYNC);
    for (size_t i = 0; i < ALM_ARRAY_LEN(all_tags); i++) {
        if (!libwbxml_lacks(all_tags[i])) {
            all_nodes[n++] = (struct fx_node){2, all_tags[i], "v", 1, libwbxml_binary(all_tags[i])};
        }
    }
    return (struct fixture){"all_tags", all_nodes, n};
}

/* --- traces ------------------------------------------------------------------------------ */

/* Traces compare as text: "<Calendar:TimeZone>" (libwbxml's names and namespaces) or
 * "<4:05>" (page and token), then "\"text\"" or "#opaque#" (non-printable bytes as \xNN),
 * then "</>"; an empty element is its start and "</>". */
static void trace_text(struct buf *b, const char *p, size_t n, bool opaque)
{
    int rc = buf_putc(b, opaque ? '#' : '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        rc |= c >= 0x20 && c < 0x7f && c != '\\' ? buf_putc(b, (char)c)
                                                 : buf_appendf(b, "\\x%02x", c);
    }
    rc |= buf_putc(b, opaque ? '#' : '"');
    assert_int_equal(rc, 0);
}

static void trace_open(struct buf *b, unsigned tag, bool names)
{
    int rc = names ? buf_appendf(b, "<%s:%s>", eas_page_name(tag >> 8), libwbxml_name(tag))
                   : buf_appendf(b, "<%u:%02x>", tag >> 8, tag & 0xFFu);
    assert_int_equal(rc, 0);
}

/* The trace a fixture should give. names: as libwbxml's XML shows it, where binary
 * elements' bytes appear as base64 text. */
static void fixture_trace(const struct fixture *f, bool names, struct buf *b)
{
    unsigned open = 0;
    for (size_t i = 0; i < f->n; i++) {
        const struct fx_node *n = &f->nodes[i];
        for (; open >= n->depth; open--) {
            assert_int_equal(buf_append_cstr(b, "</>"), 0);
        }
        trace_open(b, n->tag, names);
        open = n->depth;
        if (n->text && n->opaque && names) {
            char b64[256];
            assert_true(sec_base64_len(n->len) <= sizeof(b64));
            sec_base64(n->text, n->len, b64, sizeof(b64));
            trace_text(b, b64, strlen(b64), false);
        } else if (n->text) {
            trace_text(b, n->text, n->len, n->opaque);
        }
    }
    for (; open > 0; open--) {
        assert_int_equal(buf_append_cstr(b, "</>"), 0);
    }
}

/* Our encoding of a fixture. */
static void fixture_encode(const struct fixture *f, struct buf *out)
{
    struct eas_wbxml_enc e;
    int rc = eas_enc_begin(&e, out);
    unsigned open = 0;
    for (size_t i = 0; i < f->n; i++) {
        const struct fx_node *n = &f->nodes[i];
        for (; open >= n->depth; open--) {
            rc |= eas_enc_end(&e);
        }
        bool parent = i + 1 < f->n && f->nodes[i + 1].depth > n->depth;
        if (n->text) {
            rc |= n->opaque ? eas_enc_opaque(&e, n->tag, n->text, n->len)
                            : eas_enc_text(&e, n->tag, n->text, n->len);
            open = n->depth - 1;
        } else if (parent) {
            rc |= eas_enc_start(&e, n->tag);
            open = n->depth;
        } else {
            rc |= eas_enc_empty(&e, n->tag);
            open = n->depth - 1;
        }
    }
    for (; open > 0; open--) {
        rc |= eas_enc_end(&e);
    }
    rc |= eas_enc_finish(&e);
    assert_int_equal(rc, 0);
}

/* The fixture as XML in libwbxml's dialect (§6.3 #4, #5): the DOCTYPE, namespaces as
 * `Calendar:` declared where the page changes, binary elements as base64. */
static void fixture_xml(const struct fixture *f, struct buf *b)
{
    const char *names[FX_MAX_DEPTH + 1];
    unsigned pages[FX_MAX_DEPTH + 1];
    unsigned open = 0;
    int rc = buf_append_cstr(b, "<?xml version=\"1.0\"?><!DOCTYPE ActiveSync PUBLIC "
                                "\"-//MICROSOFT//DTD ActiveSync//EN\" "
                                "\"http://www.microsoft.com/\">");
    for (size_t i = 0; i < f->n; i++) {
        const struct fx_node *n = &f->nodes[i];
        assert_true(n->depth <= FX_MAX_DEPTH);
        for (; open >= n->depth; open--) {
            rc |= buf_appendf(b, "</%s>", names[open]);
        }
        unsigned page = n->tag >> 8;
        const char *name = libwbxml_name(n->tag);
        rc |= buf_appendf(b, "<%s", name);
        if (n->depth == 1 || pages[n->depth - 1] != page) {
            rc |= buf_appendf(b, " xmlns=\"%s:\"", eas_page_name(page));
        }
        bool parent = i + 1 < f->n && f->nodes[i + 1].depth > n->depth;
        if (!n->text && !parent) {
            rc |= buf_append_cstr(b, "/>");
            continue;
        }
        rc |= buf_putc(b, '>');
        names[n->depth] = name;
        pages[n->depth] = page;
        open = n->depth;
        if (n->text && n->opaque) {
            char b64[256];
            sec_base64(n->text, n->len, b64, sizeof(b64));
            rc |= buf_append_cstr(b, b64);
        } else if (n->text) {
            for (size_t k = 0; k < n->len; k++) {
                char c = n->text[k];
                rc |= c == '&'    ? buf_append_cstr(b, "&amp;")
                      : c == '<'  ? buf_append_cstr(b, "&lt;")
                      : c == '>'  ? buf_append_cstr(b, "&gt;")
                      : c == '\r' ? buf_append_cstr(b, "&#13;")
                                  : buf_putc(b, c);
            }
        }
    }
    for (; open > 0; open--) {
        rc |= buf_appendf(b, "</%s>", names[open]);
    }
    assert_int_equal(rc, 0);
}

/* --- libwbxml's XML back to a trace ---------------------------------------------------------- */

/* Reads wbxml2xml's compact output (-m 0: no whitespace between elements, a default
 * namespace declared where the page changes) into a "<Ns:Name>" trace. Fails the test on
 * anything it does not expect. */
static void xml_trace(const char *x, struct buf *b)
{
    char ns[FX_MAX_DEPTH + 2][64];
    unsigned depth = 0;
    snprintf(ns[0], sizeof(ns[0]), "%s", "");
    const char *p = x;
    while (*p) {
        if (strncmp(p, "<?", 2) == 0 || strncmp(p, "<!", 2) == 0) {
            const char *gt = strchr(p, '>');
            assert_non_null(gt);
            p = gt + 1;
        } else if (strncmp(p, "</", 2) == 0) {
            const char *gt = strchr(p, '>');
            assert_non_null(gt);
            assert_true(depth > 0);
            depth--;
            assert_int_equal(buf_append_cstr(b, "</>"), 0);
            p = gt + 1;
        } else if (*p == '<') {
            const char *gt = strchr(p, '>');
            assert_non_null(gt);
            bool empty = gt[-1] == '/';
            size_t name_len = strcspn(p + 1, " />");
            assert_true(depth < FX_MAX_DEPTH);
            depth++;
            memcpy(ns[depth], ns[depth - 1], sizeof(ns[depth]));
            const char *decl = strstr(p, " xmlns=\"");
            if (decl && decl < gt) {
                decl += 8;
                size_t ns_len = strcspn(decl, "\"");
                assert_true(ns_len > 0 && ns_len < sizeof(ns[depth]) && decl[ns_len - 1] == ':');
                snprintf(ns[depth], sizeof(ns[depth]), "%.*s", (int)(ns_len - 1), decl);
            }
            assert_int_equal(buf_appendf(b, "<%s:%.*s>", ns[depth], (int)name_len, p + 1), 0);
            if (empty) {
                depth--;
                assert_int_equal(buf_append_cstr(b, "</>"), 0);
            }
            p = gt + 1;
        } else {
            size_t len = strcspn(p, "<");
            char text[4096];
            size_t n = 0;
            for (size_t i = 0; i < len; i++) {
                static const struct {
                    const char *ent;
                    char c;
                } ents[] = {{"&amp;", '&'},  {"&lt;", '<'},    {"&gt;", '>'},
                            {"&quot;", '"'}, {"&apos;", '\''}, {"&#13;", '\r'}};

                bool hit = false;
                for (size_t k = 0; k < ALM_ARRAY_LEN(ents) && !hit; k++) {
                    size_t el = strlen(ents[k].ent);
                    if (strncmp(p + i, ents[k].ent, el) == 0) {
                        text[n++] = ents[k].c;
                        i += el - 1;
                        hit = true;
                    }
                }
                if (!hit) {
                    assert_true(p[i] != '&');
                    text[n++] = p[i];
                }
                assert_true(n < sizeof(text));
            }
            trace_text(b, text, n, false);
            p += len;
        }
    }
    assert_int_equal(depth, 0);
}

/* --- running the tools ------------------------------------------------------------------- */

struct tmp {
    char dir[PATH_BYTES - 32]; /* room for the file names below */
    char wbxml[PATH_BYTES];
    char xml[PATH_BYTES];
    char log[PATH_BYTES];
};

static void tmp_init(struct tmp *t)
{
    const char *base = getenv("TMPDIR");
    snprintf(t->dir, sizeof(t->dir), "%s/almanac-wbxml-XXXXXX", base && *base ? base : "/tmp");
    assert_non_null(mkdtemp(t->dir));
    snprintf(t->wbxml, sizeof(t->wbxml), "%s/body.wbxml", t->dir);
    snprintf(t->xml, sizeof(t->xml), "%s/body.xml", t->dir);
    snprintf(t->log, sizeof(t->log), "%s/tool.log", t->dir);
}

static void tmp_clean(struct tmp *t)
{
    unlink(t->wbxml);
    unlink(t->xml);
    unlink(t->log);
    assert_int_equal(rmdir(t->dir), 0);
}

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void read_file(const char *path, struct buf *b)
{
    buf_reset(b);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fail_msg("%s: %s", path, strerror(errno));
    }
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        assert_int_equal(buf_append(b, chunk, n), 0);
    }
    assert_int_equal(fclose(f), 0);
}

/* Runs tool with args (NULL-terminated), output and errors into t->log. Fails the test when
 * the tool cannot be started or exits non-zero (printing its log). */
static void run_tool(struct tmp *t, const char *tool, const char *const *args)
{
    char *argv[16];
    char store[16][PATH_BYTES];
    size_t argc = 0;
    for (const char *const *a = args; *a; a++) {
        assert_true(argc + 1 < ALM_ARRAY_LEN(argv));
        snprintf(store[argc], sizeof(store[argc]), "%s", *a);
        argv[argc] = store[argc];
        argc++;
    }
    argv[argc] = NULL;
    posix_spawn_file_actions_t fa;
    assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
    assert_int_equal(
        posix_spawn_file_actions_addopen(&fa, 1, t->log, O_WRONLY | O_CREAT | O_TRUNC, 0600), 0);
    assert_int_equal(posix_spawn_file_actions_adddup2(&fa, 1, 2), 0);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        fail_msg("%s cannot run (%s): install libwbxml2-utils (scripts/install-deps.sh)", tool,
                 strerror(rc));
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        struct buf log;
        buf_init(&log, FILE_LIMIT);
        read_file(t->log, &log);
        fail_msg("%s failed (status %d): %s", tool, status, buf_cstr(&log));
    }
}

/* --- the checks ------------------------------------------------------------------------- */

/* Our bytes through wbxml2xml: same names, namespaces and text, nothing unknown. */
static void check_ours_read_by_libwbxml(const struct fixture *f, struct buf *ours)
{
    struct tmp t;
    tmp_init(&t);
    write_file(t.wbxml, ours->data, ours->len);
    const char *args[] = {"wbxml2xml", "-l", "ACTIVESYNC", "-k",    "-m",
                          "0",         "-o", t.xml,        t.wbxml, NULL};
    run_tool(&t, "wbxml2xml", args);
    struct buf x, got, want;
    buf_init(&x, FILE_LIMIT);
    buf_init(&got, TRACE_LIMIT);
    buf_init(&want, TRACE_LIMIT);
    read_file(t.xml, &x);
    if (strstr(buf_cstr(&x), "<unknown")) {
        fail_msg("%s: libwbxml does not know an element: %s", f->name, buf_cstr(&x));
    }
    xml_trace(buf_cstr(&x), &got);
    fixture_trace(f, true, &want);
    if (strcmp(buf_cstr(&got), buf_cstr(&want)) != 0) {
        fail_msg("%s: libwbxml read\n%s\nwant\n%s", f->name, buf_cstr(&got), buf_cstr(&want));
    }
    buf_deinit(&x);
    buf_deinit(&got);
    buf_deinit(&want);
    tmp_clean(&t);
}

static int rec_start(void *ctx, unsigned tag, bool has_content, struct err *err)
{
    (void)has_content;
    (void)err;
    trace_open(ctx, tag, false);
    return 0;
}

static int rec_text(void *ctx, unsigned tag, const char *p, size_t n, bool opaque, struct err *err)
{
    (void)tag;
    (void)err;
    trace_text(ctx, p, n, opaque);
    return 0;
}

static int rec_end(void *ctx, unsigned tag, struct err *err)
{
    (void)tag;
    (void)err;
    return buf_append_cstr(ctx, "</>");
}

static const struct eas_wbxml_handler recording = {rec_start, rec_text, rec_end};

/* libwbxml's encoding of the fixture's XML, read by our decoder: the fixture's (page,
 * token, text) exactly; and the same bytes as ours. */
static void check_libwbxml_read_by_ours(const struct fixture *f, const struct buf *ours)
{
    struct tmp t;
    tmp_init(&t);
    struct buf x, bytes, got, want;
    buf_init(&x, FILE_LIMIT);
    buf_init(&bytes, FILE_LIMIT);
    buf_init(&got, TRACE_LIMIT);
    buf_init(&want, TRACE_LIMIT);
    fixture_xml(f, &x);
    write_file(t.xml, x.data, x.len);
    const char *args[] = {"xml2wbxml", "-k", "-a", "-n", "-v", "1.3", "-o", t.wbxml, t.xml, NULL};
    run_tool(&t, "xml2wbxml", args);
    read_file(t.wbxml, &bytes);
    assert_true(bytes.len > 4);
    assert_memory_equal(bytes.data, "\x03\x01\x6a\x00", 4);

    struct arena *a = arena_create();
    struct eas_wbxml_dec *d = eas_wbxml_dec_new(a, NULL, &recording, &got);
    struct err e;
    err_init(&e);
    if (eas_wbxml_feed(d, bytes.data, bytes.len, &e) != 0 || eas_wbxml_finish(d, &e) != 0) {
        fail_msg("%s: our decoder: %s", f->name, e.msg);
    }
    fixture_trace(f, false, &want);
    if (strcmp(buf_cstr(&got), buf_cstr(&want)) != 0) {
        fail_msg("%s: we read\n%s\nwant\n%s\nfrom %s", f->name, buf_cstr(&got), buf_cstr(&want),
                 buf_cstr(&x));
    }
    if (bytes.len != ours->len || memcmp(bytes.data, ours->data, ours->len) != 0) {
        fail_msg("%s: libwbxml's %zu bytes differ from our %zu", f->name, bytes.len, ours->len);
    }
    arena_destroy(&a);
    buf_deinit(&x);
    buf_deinit(&bytes);
    buf_deinit(&got);
    buf_deinit(&want);
    tmp_clean(&t);
}

static void check_both_ways(const struct fixture *f)
{
    struct buf ours;
    buf_init(&ours, FILE_LIMIT);
    fixture_encode(f, &ours);
    check_ours_read_by_libwbxml(f, &ours);
    check_libwbxml_read_by_ours(f, &ours);
    buf_deinit(&ours);
}

static void test_wbxml_oracle_agrees_on_every_command_shape(void **state)
{
    (void)state;
    for (size_t i = 0; i < ALM_ARRAY_LEN(fixtures); i++) {
        check_both_ways(&fixtures[i]);
    }
}

static void test_wbxml_oracle_agrees_on_every_token_of_the_tables(void **state)
{
    (void)state;
    struct fixture f = all_tags_fixture();
    /* the root, §2.3's tags, MeetingResponse's 12 and ResolveRecipients' 25, less
     * AccountOnlyRemoteWipe and the two proposed times (libwbxml 0.11.8 has none of them) */
    assert_int_equal(f.n, 1 + 290 + 25 - 3);
    check_both_ways(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wbxml_oracle_agrees_on_every_command_shape),
        cmocka_unit_test(test_wbxml_oracle_agrees_on_every_token_of_the_tables),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
