/* tools/almanac.c: the admin CLI. Users (argon2id hashes through util/sec), calendars,
 * ActiveSync devices and tombstone pruning, each operation in one store transaction; creating,
 * checking, backing up and restoring the store itself. The whole command line is checked, and
 * a password read, before the data directory is touched, so a usage error changes nothing; and
 * only `init`, `user add` and `restore` create a store: any other command on a directory
 * without one (a mistyped --data) says so and creates nothing. Exit codes: 0 done, 1 usage
 * error (bad arguments, names or password), 2 the operation failed (message on stderr naming
 * what: "almanac: user 'bob' exists"). Never prints a password except the one
 * --generate-password made, once. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "cal/cal.h"
#include "calstore/imip.h"
#include "server/config.h"
#include "store/store.h"
#include "tools/address.h"
#include "tools/imip.h"
#include "tools/migrate.h"
#include "tools/share.h"
#include "tools/transfer.h"
#include "util/buf.h"
#include "util/parse.h"
#include "util/sec.h"
#include "util/timeutil.h"

#ifndef ALMANAC_VERSION
#  error "ALMANAC_VERSION comes from CMake's project() version"
#endif

enum {
    EXIT_USAGE = 1,
    EXIT_FAILED = 2,
    PASSWORD_MAX = 1024,     /* bytes of a password from stdin; argon2id takes any length */
    PASSWORD_MIN = 8,        /* characters of a password from stdin (README "Administration") */
    GENERATED_LEN = 20,      /* 20 characters of 6 bits: 120 random bits */
    DETAIL_MAX = 256,        /* bytes of store_last_error() kept for the message */
    PRUNE_DAYS_DEFAULT = 90, /* a quarter: phones that sync monthly keep their state */
    PRUNE_DAYS_MAX = 36500,  /* a century; more is a typo */
    SECONDS_PER_DAY = 86400,
    POSITIONAL_MAX = 8, /* words after the options; no command takes more than 4 */
};

static const char usage_text[] =
    "usage: almanac [--data DIR | --config FILE] COMMAND [ARGS]\n"
    "Users:\n"
    "  user add NAME (--password-stdin | --generate-password)   creates the store if missing\n"
    "  user passwd NAME (--password-stdin | --generate-password)\n"
    "  user del NAME\n"
    "  user list\n"
    "  user address add|del USER ADDRESS   give or take back a scheduling address\n"
    "                       (mailto:...) besides mailto:USER@mail_domain (docs/scheduling.md)\n"
    "  user address list USER\n"
    "Calendars:\n"
    "  calendar add USER NAME [--displayname TEXT]\n"
    "  calendar list USER   (NAME, kind, modseq=N, items=N; tab-separated)\n"
    "ActiveSync devices:\n"
    "  device list USER     after a header line: id, type, protocol, first and last seen\n"
    "                       (UTC), policy, model; tab-separated\n"
    "  device del USER DEVICEID   forget a device and its sync state; its next request\n"
    "                             starts over (DEVICEID in any case)\n"
    "The store:\n"
    "  init                 create an empty store in DIR (nothing to do if there is one)\n"
    "  check                run the store's integrity check\n"
    "  backup DEST          write a consistent copy of the store to the new file DEST, also\n"
    "                       while almanacd runs (docs/backup.md)\n"
    "  restore SRC [--force]  replace the store in DIR by the backup SRC; refused while\n"
    "                       almanacd runs, and if the store has users unless --force\n"
    "  prune [--days N]     drop tombstones older than N days (default 90); sync clients\n"
    "                       holding older state are told to start over\n"
    "  migrate-store --from sqlite:DIR --to postgresql://...  copy it into an empty\n"
    "                       database; stop almanacd first (docs/migrate-store.md)\n"
    "Calendar files (docs/calendar-files.md):\n"
    "  import USER CALENDAR FILE   an iCalendar file (- for stdin) into the calendar\n"
    "                       (created if missing), one object per UID; refusals on stderr\n"
    "  export USER CALENDAR        the calendar as one iCalendar file on stdout\n"
    "  subscription add USER CALENDAR   a new read-only URL path (/subscribe/...) that\n"
    "                       serves the calendar without signing in (webcal:// subscribers)\n"
    "  subscription del USER CALENDAR   revoke every such URL of the calendar\n"
    "  subscription list USER           calendar, path, created (UTC); tab-separated\n"
    "Shared calendars (README, \"Sharing\"):\n"
    "  share OWNER CALENDAR USER read|read-write   grant USER access to OWNER's calendar\n"
    "                       (or change it); USER finds it in their own calendar home\n"
    "  unshare OWNER CALENDAR USER   revoke it\n"
    "  share list USER      grants USER gave (out) and holds (in): calendar, sharee,\n"
    "                       access, the sharee's path; tab-separated\n"
    "Mail to and from outside calendar users (iMIP; docs/scheduling.md):\n"
    "  imip queue           the outbox: id, recipient, method, attempts, next try (UTC),\n"
    "                       state (queued, sent, failed), last error; tab-separated\n"
    "  imip retry ID        queue message ID again, due now (also a failed one)\n"
    "  imip-deliver         read one message on stdin (an MTA's pipe; use --config for\n"
    "                       mail_domain): a REPLY updates the organizer's copy, a REQUEST or\n"
    "                       CANCEL reaches the local attendees. Exit 65 not a message we\n"
    "                       take, 67 no user here, 75 store busy (retry), 77 forged sender\n"
    "Options:\n"
    "  -d, --data DIR       the store's directory (default ./data)\n"
    "  -s, --store URI      where the store is: sqlite:DIR (as --data DIR) or a postgresql://\n"
    "                       URI (libpq; the database must exist, init makes the schema)\n"
    "  -c, --config FILE    take the store from almanacd's configuration (store, data_dir)\n"
    "  -h, --help           this text      -V, --version   the version\n"
    "A user NAME is 1-64 of A-Z a-z 0-9 . _ - not starting with '.'. --password-stdin reads\n"
    "one line: at least 8 characters (--generate-password makes 20 random ones and prints\n"
    "them once). Other commands than init, user add and restore need an existing store.\n"
    "Exit status: 0 done, 1 usage error, 2 the operation failed, 3 import done but some\n"
    "objects refused.\n";

enum cli_op {
    OP_USER_ADD,
    OP_USER_PASSWD,
    OP_USER_DEL,
    OP_USER_LIST,
    OP_USER_ADDR_ADD,
    OP_USER_ADDR_DEL,
    OP_USER_ADDR_LIST,
    OP_CALENDAR_ADD,
    OP_CALENDAR_LIST,
    OP_DEVICE_LIST,
    OP_DEVICE_DEL,
    OP_PRUNE,
    OP_IMPORT,
    OP_EXPORT,
    OP_SUB_ADD,
    OP_SUB_DEL,
    OP_SUB_LIST,
    OP_SHARE,
    OP_UNSHARE,
    OP_SHARE_LIST,
    OP_INIT,
    OP_CHECK,
    OP_BACKUP,
    OP_RESTORE,
    OP_IMIP_QUEUE,
    OP_IMIP_RETRY,
    OP_IMIP_DELIVER,
    OP_MIGRATE_STORE,
};

/* One command line, checked before anything opens the store. Strings borrow argv. */
struct cli_cmd {
    enum cli_op op;
    const char *data_dir;           /* --data, or NULL: --store's, --config's, else ./data */
    const char *store;              /* --store, or NULL */
    const char *config_path;        /* --config, or NULL */
    const char *user;               /* OP_USER_*, OP_CALENDAR_*, OP_DEVICE_*; OP_SHARE*: owner */
    const char *sharee;             /* OP_SHARE, OP_UNSHARE */
    enum store_share_access access; /* OP_SHARE */
    const char *calendar;           /* OP_CALENDAR_ADD, OP_IMPORT, OP_EXPORT, OP_SUB_ADD/DEL */
    const char *file;               /* OP_IMPORT */
    const char *device;             /* OP_DEVICE_DEL */
    const char *display;            /* OP_CALENDAR_ADD with --displayname, else NULL */
    const char *path;               /* OP_BACKUP's DEST, OP_RESTORE's SRC */
    const char *addr;               /* OP_USER_ADDR_ADD/DEL */
    const char *from, *to;          /* OP_MIGRATE_STORE: --from, --to */
    bool is_generated;      /* OP_USER_ADD/PASSWD: --generate-password, else --password-stdin */
    bool is_forced;         /* OP_RESTORE --force */
    uint64_t days;          /* OP_PRUNE */
    uint64_t id;            /* OP_IMIP_RETRY */
    char mail_domain[128];  /* from --config: who is local (OP_IMIP_DELIVER) */
    char imip_from[320];    /* from --config */
    unsigned max_attendees; /* from --config (0: the default) */
    char config_dir[CONFIG_STR_MAX]; /* the directory of --store or --config */
    char pg_uri[CONFIG_STR_MAX];     /* a postgresql:// store's URI, else "" */
    char label[CONFIG_STR_MAX];      /* what messages call the store (no password) */
    const char *where;               /* what store_open takes: pg_uri or data_dir */
    char password[PASSWORD_MAX + 1]; /* OP_USER_ADD/PASSWD; main() wipes it */
};

/* Prints `why` (if any) and the usage to stderr; returns EXIT_USAGE. */
static int usage_error(const char *why)
{
    if (why) {
        fprintf(stderr, "almanac: %s\n", why);
    }
    fputs(usage_text, stderr);
    return EXIT_USAGE;
}

/* 1..64 of [A-Za-z0-9._-], not starting with '.': safe as a URL segment and a file name. */
static bool is_valid_user(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > STORE_USER_MAX || name[0] == '.') {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok) {
            return false;
        }
    }
    return true;
}

/* One path segment: 1..255 bytes, no '/', not "." or ".." (RFC 3986 §5.2.4 would eat them). */
static bool is_valid_calendar(const char *name)
{
    size_t n = strlen(name);
    return n > 0 && n <= STORE_NAME_MAX && !strchr(name, '/') && strcmp(name, ".") != 0 &&
           strcmp(name, "..") != 0;
}

/* The length of the UTF-8 sequence a lead byte starts, or 0 for a byte no sequence starts
 * with (a continuation byte, or one only overlongs and code points past U+10FFFF use). */
static size_t utf8_lead_len(unsigned c)
{
    if (c < 0x80) {
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        return 2;
    }
    if (c >= 0xe0 && c <= 0xef) {
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        return 4;
    }
    return 0;
}

/* The length of the well-formed UTF-8 sequence at p (no overlong, surrogate or code point
 * past U+10FFFF), with its code point in *cp_out; 0 when there is none. Stops at a NUL. */
static size_t utf8_decode(const unsigned char *p, uint32_t *cp_out)
{
    unsigned c = *p;
    size_t len = utf8_lead_len(c);
    if (len == 0) {
        return 0;
    }
    uint32_t cp = len == 1 ? c : c & (0x7fu >> len);
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0; /* also stops at the NUL */
        }
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    static const uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0;
    }
    *cp_out = cp;
    return len;
}

/* Well-formed UTF-8 without control characters: text XML 1.0 can carry, which clients show
 * as the calendar's name. */
static bool is_valid_text(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        uint32_t cp = 0;
        size_t len = utf8_decode(p, &cp);
        if (len == 0 || cp < 0x20 || cp == 0x7f) {
            return false;
        }
        p += len;
    }
    return true;
}

static int bad_user_name(const char *name)
{
    fprintf(stderr,
            "almanac: bad user name '%.80s' (1-64 of A-Z a-z 0-9 . _ -, not starting with '.')\n",
            name);
    return EXIT_USAGE;
}

/* The options, each a bit of `seen` so a command can refuse those that are not its own. */
enum cli_opt {
    OPT_DATA = 'd',
    OPT_STORE = 's',
    OPT_CONFIG = 'c',
    OPT_HELP = 'h',
    OPT_VERSION = 'V',
    OPT_PASSWORD_STDIN = 256,
    OPT_GENERATE_PASSWORD,
    OPT_DISPLAYNAME,
    OPT_DAYS,
    OPT_FORCE,
    OPT_FROM,
    OPT_TO,
};

enum {
    SEEN_PASSWORD_STDIN = 1u << 0,
    SEEN_GENERATE_PASSWORD = 1u << 1,
    SEEN_DISPLAYNAME = 1u << 2,
    SEEN_DAYS = 1u << 3,
    SEEN_FORCE = 1u << 4,
    SEEN_FROM = 1u << 5,
    SEEN_TO = 1u << 6,
};

/* The command's words after the options (argv permuted by getopt_long). */
struct cli_words {
    const char *w[POSITIONAL_MAX];
    size_t n;
};

static bool words_are(const struct cli_words *w, const char *a, const char *b, size_t n)
{
    return w->n == n && strcmp(w->w[0], a) == 0 && (!b || strcmp(w->w[1], b) == 0);
}

/* Refuses options that `op` does not take (`allowed`, a mask of SEEN_*). */
static int check_opts(unsigned seen, unsigned allowed)
{
    static const char *const names[] = {"--password-stdin",
                                        "--generate-password",
                                        "--displayname",
                                        "--days",
                                        "--force",
                                        "--from",
                                        "--to"};
    for (size_t i = 0; i < ALM_ARRAY_LEN(names); i++) {
        if ((seen & (1u << i)) && !(allowed & (1u << i))) {
            char why[80];
            snprintf(why, sizeof(why), "%s does not go with this command", names[i]);
            return usage_error(why);
        }
    }
    return 0;
}

/* `user ...`: the words and the password options. Returns 0 or EXIT_USAGE after printing why. */
static int parse_user(const struct cli_words *w, unsigned seen, struct cli_cmd *cmd)
{
    unsigned allowed = 0;
    if (w->n >= 2 && strcmp(w->w[1], "address") == 0) {
        bool list = w->n == 4 && strcmp(w->w[2], "list") == 0;
        bool set = w->n == 5 && (strcmp(w->w[2], "add") == 0 || strcmp(w->w[2], "del") == 0);
        if (!list && !set) {
            return usage_error("user address needs add|del USER ADDRESS, or list USER");
        }
        cmd->op = list ? OP_USER_ADDR_LIST
                       : (strcmp(w->w[2], "add") == 0 ? OP_USER_ADDR_ADD : OP_USER_ADDR_DEL);
        cmd->user = w->w[3];
        cmd->addr = set ? w->w[4] : NULL;
        if (check_opts(seen, 0) != 0) {
            return EXIT_USAGE;
        }
        return is_valid_user(cmd->user) ? 0 : bad_user_name(cmd->user);
    }
    if (words_are(w, "user", "list", 2)) {
        cmd->op = OP_USER_LIST;
    } else if (words_are(w, "user", "del", 3)) {
        cmd->op = OP_USER_DEL;
    } else if (words_are(w, "user", "add", 3) || words_are(w, "user", "passwd", 3)) {
        cmd->op = strcmp(w->w[1], "add") == 0 ? OP_USER_ADD : OP_USER_PASSWD;
        allowed = SEEN_PASSWORD_STDIN | SEEN_GENERATE_PASSWORD;
        unsigned mode = seen & allowed;
        if (mode != SEEN_PASSWORD_STDIN && mode != SEEN_GENERATE_PASSWORD) {
            return usage_error("expected one of --password-stdin and --generate-password");
        }
        cmd->is_generated = mode == SEEN_GENERATE_PASSWORD;
    } else {
        return usage_error(NULL);
    }
    if (check_opts(seen, allowed) != 0) {
        return EXIT_USAGE;
    }
    if (w->n == 3) {
        cmd->user = w->w[2];
        if (!is_valid_user(cmd->user)) {
            return bad_user_name(cmd->user);
        }
    }
    return 0;
}

/* `calendar ...`. Returns 0, or EXIT_USAGE after printing why. */
static int parse_calendar(const struct cli_words *w, unsigned seen, struct cli_cmd *cmd)
{
    unsigned allowed = 0;
    if (words_are(w, "calendar", "list", 3)) {
        cmd->op = OP_CALENDAR_LIST;
    } else if (words_are(w, "calendar", "add", 4)) {
        cmd->op = OP_CALENDAR_ADD;
        cmd->calendar = w->w[3];
        allowed = SEEN_DISPLAYNAME;
    } else {
        return usage_error(NULL);
    }
    if (check_opts(seen, allowed) != 0) {
        return EXIT_USAGE;
    }
    cmd->user = w->w[2];
    if (!is_valid_user(cmd->user)) {
        return bad_user_name(cmd->user);
    }
    if (cmd->calendar && !is_valid_calendar(cmd->calendar)) {
        fprintf(stderr, "almanac: bad calendar name '%.80s' (1-255 bytes, no '/', not . or ..)\n",
                cmd->calendar);
        return EXIT_USAGE;
    }
    if (cmd->display && !is_valid_text(cmd->display)) {
        fputs("almanac: the display name must be UTF-8 text without control characters\n", stderr);
        return EXIT_USAGE;
    }
    return 0;
}

/* subscription add|del USER CALENDAR, subscription list USER */
static int parse_subscription(const struct cli_words *w, unsigned seen, struct cli_cmd *cmd)
{
    if (words_are(w, "subscription", "list", 3)) {
        cmd->op = OP_SUB_LIST;
    } else if (words_are(w, "subscription", "add", 4) || words_are(w, "subscription", "del", 4)) {
        cmd->op = strcmp(w->w[1], "add") == 0 ? OP_SUB_ADD : OP_SUB_DEL;
        cmd->calendar = w->w[3];
        if (!is_valid_calendar(cmd->calendar)) {
            return usage_error("bad calendar name (1-255 bytes, no '/', not . or ..)");
        }
    } else {
        return usage_error("subscription needs add|del USER CALENDAR or list USER");
    }
    cmd->user = w->w[2];
    if (!is_valid_user(cmd->user)) {
        return bad_user_name(cmd->user);
    }
    return check_opts(seen, 0);
}

/* share OWNER CALENDAR USER read|read-write, unshare OWNER CALENDAR USER, share list USER */
static int parse_share(const struct cli_words *w, unsigned seen, struct cli_cmd *cmd)
{
    bool is_share = strcmp(w->w[0], "share") == 0;
    if (is_share && w->n == 3 && strcmp(w->w[1], "list") == 0) {
        cmd->op = OP_SHARE_LIST;
        cmd->user = w->w[2];
        if (!is_valid_user(cmd->user)) {
            return bad_user_name(cmd->user);
        }
        return check_opts(seen, 0);
    }
    if (w->n != (is_share ? 5u : 4u)) {
        return usage_error(is_share
                               ? "share needs OWNER CALENDAR USER read|read-write, or list USER"
                               : "unshare needs OWNER CALENDAR USER");
    }
    cmd->op = is_share ? OP_SHARE : OP_UNSHARE;
    cmd->user = w->w[1];
    cmd->calendar = w->w[2];
    cmd->sharee = w->w[3];
    if (!is_valid_user(cmd->user)) {
        return bad_user_name(cmd->user);
    }
    if (!is_valid_user(cmd->sharee)) {
        return bad_user_name(cmd->sharee);
    }
    if (!is_valid_calendar(cmd->calendar)) {
        return usage_error("bad calendar name (1-255 bytes, no '/', not . or ..)");
    }
    if (is_share) {
        if (strcmp(w->w[4], "read") == 0) {
            cmd->access = STORE_SHARE_READ;
        } else if (strcmp(w->w[4], "read-write") == 0) {
            cmd->access = STORE_SHARE_READ_WRITE;
        } else {
            return usage_error("the access is read or read-write");
        }
    }
    return check_opts(seen, 0);
}

/* import USER CALENDAR FILE, export USER CALENDAR */
static int parse_transfer(const struct cli_words *w, unsigned seen, struct cli_cmd *cmd)
{
    bool is_import = strcmp(w->w[0], "import") == 0;
    if (w->n != (is_import ? 4u : 3u)) {
        return usage_error(is_import ? "import needs USER CALENDAR FILE"
                                     : "export needs USER CALENDAR");
    }
    cmd->op = is_import ? OP_IMPORT : OP_EXPORT;
    cmd->user = w->w[1];
    cmd->calendar = w->w[2];
    cmd->file = is_import ? w->w[3] : NULL;
    if (!is_valid_user(cmd->user)) {
        return bad_user_name(cmd->user);
    }
    if (!is_valid_calendar(cmd->calendar)) {
        return usage_error("bad calendar name (1-255 bytes, no '/', not . or ..)");
    }
    if (cmd->file && cmd->file[0] == '\0') {
        return usage_error("an empty file name");
    }
    return check_opts(seen, 0);
}

/* `device ...`. Returns 0, or EXIT_USAGE after printing why. */
static int parse_device(const struct cli_words *w, unsigned seen, struct cli_cmd *cmd)
{
    if (words_are(w, "device", "list", 3)) {
        cmd->op = OP_DEVICE_LIST;
    } else if (words_are(w, "device", "del", 4)) {
        cmd->op = OP_DEVICE_DEL;
        cmd->device = w->w[3];
    } else {
        return usage_error(NULL);
    }
    if (check_opts(seen, 0) != 0) {
        return EXIT_USAGE;
    }
    cmd->user = w->w[2];
    if (!is_valid_user(cmd->user)) {
        return bad_user_name(cmd->user);
    }
    if (cmd->device && (cmd->device[0] == '\0' || strlen(cmd->device) > STORE_EAS_ID_MAX)) {
        fprintf(stderr, "almanac: bad device id (1-%d bytes)\n", STORE_EAS_ID_MAX);
        return EXIT_USAGE;
    }
    return 0;
}

/* The commands about the store itself: init, check, prune, backup, restore. */
static int parse_store_cmd(const struct cli_words *w, unsigned seen, struct cli_cmd *cmd)
{
    unsigned allowed = 0;
    if (words_are(w, "init", NULL, 1)) {
        cmd->op = OP_INIT;
    } else if (words_are(w, "check", NULL, 1)) {
        cmd->op = OP_CHECK;
    } else if (words_are(w, "prune", NULL, 1)) {
        cmd->op = OP_PRUNE;
        allowed = SEEN_DAYS;
    } else if (words_are(w, "backup", NULL, 2)) {
        cmd->op = OP_BACKUP;
        cmd->path = w->w[1];
    } else if (words_are(w, "restore", NULL, 2)) {
        cmd->op = OP_RESTORE;
        cmd->path = w->w[1];
        allowed = SEEN_FORCE;
        cmd->is_forced = (seen & SEEN_FORCE) != 0;
    } else {
        return usage_error(NULL);
    }
    if (cmd->path && cmd->path[0] == '\0') {
        return usage_error("an empty file name");
    }
    return check_opts(seen, allowed);
}

/* `imip queue`, `imip retry ID`, `imip-deliver`. Returns 0 or EXIT_USAGE after printing why. */
static int parse_imip(const struct cli_words *w, unsigned seen, struct cli_cmd *cmd)
{
    int rc = check_opts(seen, 0);
    if (rc != 0) {
        return rc;
    }
    if (strcmp(w->w[0], "imip-deliver") == 0 && w->n == 1) {
        cmd->op = OP_IMIP_DELIVER;
        return 0;
    }
    if (w->n == 2 && strcmp(w->w[1], "queue") == 0) {
        cmd->op = OP_IMIP_QUEUE;
        return 0;
    }
    if (w->n == 3 && strcmp(w->w[1], "retry") == 0) {
        if (parse_u64(slice_from_cstr(w->w[2]), &cmd->id) != 0 || cmd->id == 0) {
            return usage_error("imip retry needs a message id (a number)");
        }
        cmd->op = OP_IMIP_RETRY;
        return 0;
    }
    return usage_error("imip needs queue or retry ID; imip-deliver takes no arguments");
}

/* Parses the whole command line into `cmd`: options anywhere (getopt_long permutes them
 * before the words), then the command's words. Returns 0 to run it, -1 when --help or
 * --version was printed (exit 0), or EXIT_USAGE after printing why. */
static int parse_args(int argc, char **argv, struct cli_cmd *cmd)
{
    static const struct option opts[] = {
        {"data", required_argument, NULL, OPT_DATA},
        {"store", required_argument, NULL, OPT_STORE},
        {"config", required_argument, NULL, OPT_CONFIG},
        {"help", no_argument, NULL, OPT_HELP},
        {"version", no_argument, NULL, OPT_VERSION},
        {"password-stdin", no_argument, NULL, OPT_PASSWORD_STDIN},
        {"generate-password", no_argument, NULL, OPT_GENERATE_PASSWORD},
        {"displayname", required_argument, NULL, OPT_DISPLAYNAME},
        {"days", required_argument, NULL, OPT_DAYS},
        {"force", no_argument, NULL, OPT_FORCE},
        {"from", required_argument, NULL, OPT_FROM},
        {"to", required_argument, NULL, OPT_TO},
        {NULL, 0, NULL, 0},
    };
    memset(cmd, 0, sizeof(*cmd));
    cmd->days = PRUNE_DAYS_DEFAULT;
    unsigned seen = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:s:c:hV", opts, NULL)) != -1) {
        switch (c) {
        case OPT_DATA:
            if (optarg[0] == '\0') {
                return usage_error("--data needs a directory");
            }
            cmd->data_dir = optarg;
            break;
        case OPT_STORE:
            if (optarg[0] == '\0') {
                return usage_error("--store needs sqlite:DIR or a postgresql:// URI");
            }
            cmd->store = optarg;
            break;
        case OPT_CONFIG:
            cmd->config_path = optarg;
            break;
        case OPT_HELP:
            fputs(usage_text, stdout);
            return -1;
        case OPT_VERSION:
            puts("almanac " ALMANAC_VERSION);
            return -1;
        case OPT_PASSWORD_STDIN:
            seen |= SEEN_PASSWORD_STDIN;
            break;
        case OPT_GENERATE_PASSWORD:
            seen |= SEEN_GENERATE_PASSWORD;
            break;
        case OPT_DISPLAYNAME:
            seen |= SEEN_DISPLAYNAME;
            cmd->display = optarg;
            break;
        case OPT_DAYS:
            seen |= SEEN_DAYS;
            if (parse_u64(slice_from_cstr(optarg), &cmd->days) != 0 || cmd->days > PRUNE_DAYS_MAX) {
                return usage_error("--days takes 0 to 36500");
            }
            break;
        case OPT_FORCE:
            seen |= SEEN_FORCE;
            break;
        case OPT_FROM:
            seen |= SEEN_FROM;
            cmd->from = optarg;
            break;
        case OPT_TO:
            seen |= SEEN_TO;
            cmd->to = optarg;
            break;
        default: /* getopt_long said what (unknown option, missing argument) */
            return usage_error(NULL);
        }
    }
    struct cli_words w = {.n = 0};
    for (int i = optind; i < argc; i++) {
        if (w.n == POSITIONAL_MAX) {
            return usage_error("too many arguments");
        }
        w.w[w.n++] = argv[i];
    }
    if (w.n == 0) {
        return usage_error(NULL);
    }
    const char *what = w.w[0];
    if (strcmp(what, "user") == 0) {
        return parse_user(&w, seen, cmd);
    }
    if (strcmp(what, "calendar") == 0) {
        return parse_calendar(&w, seen, cmd);
    }
    if (strcmp(what, "device") == 0) {
        return parse_device(&w, seen, cmd);
    }
    const char *store_cmds[] = {"init", "check", "prune", "backup", "restore"};
    for (size_t i = 0; i < ALM_ARRAY_LEN(store_cmds); i++) {
        if (strcmp(what, store_cmds[i]) == 0) {
            return parse_store_cmd(&w, seen, cmd);
        }
    }
    if (strcmp(what, "subscription") == 0) {
        return parse_subscription(&w, seen, cmd);
    }
    if (strcmp(what, "share") == 0 || strcmp(what, "unshare") == 0) {
        return parse_share(&w, seen, cmd);
    }
    if (strcmp(what, "import") == 0 || strcmp(what, "export") == 0) {
        return parse_transfer(&w, seen, cmd);
    }
    if (strcmp(what, "imip") == 0 || strcmp(what, "imip-deliver") == 0) {
        return parse_imip(&w, seen, cmd);
    }
    if (strcmp(what, "migrate-store") == 0) {
        cmd->op = OP_MIGRATE_STORE;
        bool is_pg_to = cmd->to && (strncmp(cmd->to, "postgresql://", 13) == 0 ||
                                    strncmp(cmd->to, "postgres://", 11) == 0);
        bool is_pg_from = cmd->from && strncmp(cmd->from, "postgres", 8) == 0;
        if (w.n != 1 || !cmd->from || !cmd->from[0] || is_pg_from || !is_pg_to) {
            return usage_error("migrate-store needs --from sqlite:DIR and --to postgresql://...");
        }
        if (cmd->data_dir || cmd->store || cmd->config_path) {
            return usage_error("migrate-store names its stores with --from and --to only");
        }
        return check_opts(seen, SEEN_FROM | SEEN_TO);
    }
    fprintf(stderr, "almanac: unknown command '%.80s'\n", what);
    return usage_error(NULL);
}

/* Characters of the n bytes at p: UTF-8 continuation bytes do not count, so "日本語のパス"
 * is 6 characters, not 18 (an invalid sequence counts a character per lead byte). */
static size_t count_chars(const char *p, size_t n)
{
    size_t chars = 0;
    for (size_t i = 0; i < n; i++) {
        chars += ((unsigned char)p[i] & 0xc0) != 0x80;
    }
    return chars;
}

/* Reads the password: one line of stdin without its line end ("\n" or "\r\n"), or a new
 * one of GENERATED_LEN characters from the base64url alphabet (64 symbols, so each random
 * byte's low 6 bits pick one without bias; sec_random is libsodium's randombytes_buf). A
 * password read must have PASSWORD_MIN characters. Returns 0, or EXIT_USAGE after printing
 * why. */
static int get_password(bool is_generated, char out[PASSWORD_MAX + 1])
{
    if (is_generated) {
        static const char alphabet[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        _Static_assert(sizeof(alphabet) - 1 == 64, "6 bits per character");
        unsigned char raw[GENERATED_LEN];
        sec_random(raw, sizeof(raw));
        for (size_t i = 0; i < GENERATED_LEN; i++) {
            out[i] = alphabet[raw[i] & 63];
        }
        out[GENERATED_LEN] = '\0';
        sec_memzero(raw, sizeof(raw));
        return 0;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t got = getline(&line, &cap, stdin);
    size_t n = got > 0 ? (size_t)got : 0;
    if (n > 0 && line[n - 1] == '\n') {
        n--;
    }
    if (n > 0 && line[n - 1] == '\r') {
        n--;
    }
    int rc = 0;
    if (n == 0) {
        fputs("almanac: empty password (--password-stdin reads one line)\n", stderr);
        rc = EXIT_USAGE;
    } else if (n > PASSWORD_MAX) {
        fprintf(stderr, "almanac: password longer than %d bytes\n", PASSWORD_MAX);
        rc = EXIT_USAGE;
    } else if (memchr(line, '\0', n)) {
        fputs("almanac: password contains a NUL byte\n", stderr);
        rc = EXIT_USAGE;
    } else if (count_chars(line, n) < PASSWORD_MIN) {
        fprintf(stderr,
                "almanac: password shorter than %d characters (--generate-password makes one)\n",
                PASSWORD_MIN);
        rc = EXIT_USAGE;
    } else {
        memcpy(out, line, n);
        out[n] = '\0';
    }
    if (line) {
        sec_memzero(line, cap);
        free(line);
    }
    return rc;
}

static const char *rc_name(enum store_rc rc)
{
    switch (rc) {
    case STORE_OK:
        return "ok";
    case STORE_NOTFOUND:
        return "not found";
    case STORE_EXISTS:
        return "exists";
    case STORE_CONFLICT:
        return "conflict";
    case STORE_BUSY:
        return "store busy";
    case STORE_LIMIT:
        return "over a store limit";
    case STORE_IO:
        return "i/o error";
    case STORE_UNAVAILABLE:
        return "database unreachable";
    }
    return "unknown error";
}

/* Ends the transaction: commits when `rc` is STORE_OK, else rolls back. On failure, unless
 * the caller already wrote one, copies store_last_error() into `detail` first (rollback may
 * replace it). Returns the final rc. */
static enum store_rc end_txn(struct store *s, enum store_rc rc, char detail[DETAIL_MAX])
{
    if (rc == STORE_OK) {
        rc = store_commit(s);
    }
    if (rc != STORE_OK) {
        if (detail[0] == '\0') {
            snprintf(detail, DETAIL_MAX, "%s", store_last_error(s)); /* may cut: a message */
        }
        store_rollback(s);
    }
    return rc;
}

/* Reports a failed operation on `what` ("user 'bob'"): NOTFOUND and EXISTS are answers about
 * the names the admin gave, so they print plainly; anything else adds the store's detail.
 * Returns EXIT_FAILED. */
static int report(const char *what, enum store_rc rc, const char *detail)
{
    if (rc == STORE_NOTFOUND || rc == STORE_EXISTS) {
        fprintf(stderr, "almanac: %s %s\n", what, rc == STORE_EXISTS ? "exists" : "not found");
    } else {
        fprintf(stderr, "almanac: %s: %s%s%s\n", what, rc_name(rc), detail[0] ? ": " : "", detail);
    }
    return EXIT_FAILED;
}

/* Stores the argon2id hash of cmd->password for a new or existing user; prints the
 * password when it was generated and the write committed. */
static int user_set_password(struct store *s, const struct cli_cmd *cmd)
{
    char hash[SEC_PWHASH_STRBYTES];
    if (sec_pwhash(cmd->password, strlen(cmd->password), hash) != 0) {
        fputs("almanac: cannot hash the password (out of memory?)\n", stderr);
        return EXIT_FAILED;
    }
    struct arena *a = arena_create();
    char detail[DETAIL_MAX] = "";
    enum store_rc rc = store_begin_write(s);
    if (rc == STORE_OK) {
        rc = cmd->op == OP_USER_ADD ? store_principal_add(s, cmd->user, hash, a, NULL)
                                    : store_principal_set_pwhash(s, cmd->user, hash);
    }
    rc = end_txn(s, rc, detail);
    arena_destroy(&a);
    sec_memzero(hash, sizeof(hash));
    if (rc == STORE_OK && cmd->is_generated) {
        printf("%s\n", cmd->password);
    }
    if (rc != STORE_OK) {
        char what[96];
        snprintf(what, sizeof(what), "user '%s'", cmd->user); /* a user name is <= 64 bytes */
        return report(what, rc, detail);
    }
    return 0;
}

static int user_del(struct store *s, const struct cli_cmd *cmd)
{
    char detail[DETAIL_MAX] = "";
    enum store_rc rc = store_begin_write(s);
    if (rc == STORE_OK) {
        rc = store_principal_del(s, cmd->user);
    }
    rc = end_txn(s, rc, detail);
    if (rc != STORE_OK) {
        char what[96];
        snprintf(what, sizeof(what), "user '%s'", cmd->user);
        return report(what, rc, detail);
    }
    return 0;
}

static int print_user(void *ctx, const struct store_principal *p)
{
    (void)ctx;
    printf("%s\n", p->name);
    return 0;
}

static int user_list(struct store *s)
{
    char detail[DETAIL_MAX] = "";
    enum store_rc rc = store_begin_read(s);
    if (rc == STORE_OK) {
        rc = store_principal_list(s, print_user, NULL);
    }
    if (rc != STORE_OK) {
        snprintf(detail, sizeof(detail), "%s", store_last_error(s));
    }
    store_rollback(s);
    return rc == STORE_OK ? 0 : report("user list", rc, detail);
}

/* The XML-escaped text of a displayname: the property element's content, as PROPPATCH
 * stores it (RFC 4918 §4.3). `t` is checked text (is_valid_text), so only markup needs
 * escaping. Returns 0 or -1 past the buffer's limit. */
static int escape_text(struct buf *b, const char *t)
{
    int rc = 0;
    for (; *t && rc == 0; t++) {
        switch (*t) {
        case '&':
            rc = buf_append_cstr(b, "&amp;");
            break;
        case '<':
            rc = buf_append_cstr(b, "&lt;");
            break;
        case '>':
            rc = buf_append_cstr(b, "&gt;");
            break;
        default:
            rc = buf_putc(b, *t);
        }
    }
    return rc;
}

static int calendar_add(struct store *s, const struct cli_cmd *cmd)
{
    struct arena *a = arena_create();
    struct store_principal p;
    struct store_coll c;
    struct buf value;
    buf_init(&value, BUF_LIMIT_PROP_VALUE);
    char detail[DETAIL_MAX] = "";
    bool is_user_found = false;
    enum store_rc rc = store_begin_write(s);
    if (rc == STORE_OK) {
        rc = store_principal_get(s, cmd->user, a, &p);
        is_user_found = rc == STORE_OK;
    }
    if (rc == STORE_OK) {
        rc = store_coll_create(s, p.home_id, cmd->calendar, STORE_COLL_CALENDAR, a, &c);
    }
    if (rc == STORE_OK && cmd->display) {
        if (escape_text(&value, cmd->display) != 0) {
            rc = STORE_LIMIT;
            snprintf(detail, sizeof(detail), "display name over %d bytes escaped",
                     BUF_LIMIT_PROP_VALUE);
        } else {
            struct store_prop prop = {"DAV:", "displayname", buf_cstr(&value), value.len};
            rc = store_prop_set(s, STORE_RES_COLL, c.id, &prop);
        }
    }
    rc = end_txn(s, rc, detail);
    buf_deinit(&value);
    arena_destroy(&a);
    if (rc != STORE_OK) {
        char what[400];
        if (is_user_found) {
            snprintf(what, sizeof(what), "calendar '%s' of user '%s'", cmd->calendar, cmd->user);
        } else {
            snprintf(what, sizeof(what), "user '%s'", cmd->user);
        }
        return report(what, rc, detail);
    }
    return 0;
}

/* One line per child of the user's home: name, kind, modseq=N, items=N, tab-separated, in
 * name order, all from one read transaction (a consistent snapshot). */
static int calendar_list(struct store *s, const struct cli_cmd *cmd)
{
    struct arena *a = arena_create();
    struct store_principal p;
    struct store_cursor *cur = NULL;
    char detail[DETAIL_MAX] = "";
    bool is_user_found = false;
    enum store_rc rc = store_begin_read(s);
    if (rc == STORE_OK) {
        rc = store_principal_get(s, cmd->user, a, &p);
        is_user_found = rc == STORE_OK;
    }
    if (rc == STORE_OK) {
        rc = store_children_open(s, p.home_id, &cur);
    }
    while (rc == STORE_OK) {
        struct store_coll c;
        rc = store_cursor_next_coll(cur, &c);
        if (rc != STORE_OK) {
            break;
        }
        struct arena_mark m = arena_mark(a);
        /* the row is borrowed until the cursor moves; the count below is another statement */
        const char *name = arena_strdup(a, c.name);
        const char *kind = c.kind == STORE_COLL_CALENDAR ? "calendar" : "collection";
        uint64_t modseq = c.modseq;
        uint64_t items = 0, bytes = 0;
        rc = store_coll_usage(s, c.id, &items, &bytes);
        if (rc == STORE_OK) {
            printf("%s\t%s\tmodseq=%llu\titems=%llu\n", name, kind, (unsigned long long)modseq,
                   (unsigned long long)items);
        }
        arena_rewind(a, m);
    }
    if (rc == STORE_NOTFOUND && is_user_found) {
        rc = STORE_OK; /* the end of the children */
    }
    if (rc != STORE_OK) {
        snprintf(detail, sizeof(detail), "%s", store_last_error(s));
    }
    store_cursor_close(&cur);
    store_rollback(s);
    arena_destroy(&a);
    if (rc != STORE_OK) {
        char what[96];
        snprintf(what, sizeof(what), "user '%s'", cmd->user);
        return report(what, rc, detail);
    }
    return 0;
}

/* Prints client text (a DeviceId, a model name) with control characters (C0, DEL and C1)
 * and bytes that are not well-formed UTF-8 as '?', so a device cannot write escape sequences
 * to the admin's terminal, break the columns or make the listing undecodable; "-" for NULL
 * or "". Well-formed UTF-8 passes. */
static void put_field(const char *t)
{
    if (!t || !*t) {
        fputc('-', stdout);
        return;
    }
    const unsigned char *p = (const unsigned char *)t;
    while (*p) {
        uint32_t cp = 0;
        size_t len = utf8_decode(p, &cp);
        if (len == 0 || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) {
            fputc('?', stdout);
            p += len ? len : 1;
            continue;
        }
        fwrite(p, 1, len, stdout);
        p += len;
    }
}

/* activesync.md §3.1: a temporary key awaiting its ack, or a final key acknowledged. */
static const char *policy_state(const struct store_eas_device *d)
{
    if (d->policy_pending != 0) {
        return "pending";
    }
    return d->policy_key != 0 ? "provisioned" : "none";
}

struct device_lines {
    size_t n; /* devices printed */
};

static int print_device(void *ctx, const struct store_eas_device *d)
{
    struct device_lines *l = ctx;
    if (l->n++ == 0) {
        puts("DEVICE\tTYPE\tPROTOCOL\tFIRST SEEN\tLAST SEEN\tPOLICY\tMODEL");
    }
    char first[32];
    char last[32];
    time_rfc3339(d->first_seen, first, sizeof(first));
    time_rfc3339(d->last_seen, last, sizeof(last));
    put_field(d->device_id);
    fputc('\t', stdout);
    put_field(d->device_type);
    fputc('\t', stdout);
    put_field(d->protocol);
    printf("\t%s\t%s\t%s\t", first, last, policy_state(d));
    if (d->model && d->friendly_name) {
        put_field(d->model);
        fputs(" (", stdout);
        put_field(d->friendly_name);
        fputc(')', stdout);
    } else {
        put_field(d->model ? d->model : d->friendly_name);
    }
    fputc('\n', stdout);
    return 0;
}

/* The user's ActiveSync devices by DeviceId, from one read transaction; "no devices" when
 * there is none. */
static int device_list(struct store *s, const struct cli_cmd *cmd)
{
    struct arena *a = arena_create();
    struct store_principal p;
    struct device_lines lines = {0};
    char detail[DETAIL_MAX] = "";
    enum store_rc rc = store_begin_read(s);
    if (rc == STORE_OK) {
        rc = store_principal_get(s, cmd->user, a, &p);
    }
    if (rc == STORE_OK) {
        rc = store_eas_device_list(s, p.id, print_device, &lines);
    }
    if (rc != STORE_OK) {
        snprintf(detail, sizeof(detail), "%s", store_last_error(s));
    }
    store_rollback(s);
    arena_destroy(&a);
    if (rc != STORE_OK) {
        char what[96];
        snprintf(what, sizeof(what), "user '%s'", cmd->user);
        return report(what, rc, detail);
    }
    if (lines.n == 0) {
        puts("no devices");
    }
    return 0;
}

/* Deletes the device with its blobs, sync states and membership: the device's next request
 * finds no state and starts over (Provision, FolderSync, Sync with key 0). */
static int device_del(struct store *s, const struct cli_cmd *cmd)
{
    struct arena *a = arena_create();
    struct store_principal p;
    char detail[DETAIL_MAX] = "";
    bool is_user_found = false;
    enum store_rc rc = store_begin_write(s);
    if (rc == STORE_OK) {
        rc = store_principal_get(s, cmd->user, a, &p);
        is_user_found = rc == STORE_OK;
    }
    if (rc == STORE_OK) {
        rc = store_eas_device_del(s, p.id, cmd->device);
    }
    rc = end_txn(s, rc, detail);
    arena_destroy(&a);
    if (rc != STORE_OK) {
        char what[300]; /* a device id is <= 128 bytes, a user name <= 64 */
        if (is_user_found) {
            snprintf(what, sizeof(what), "device '%s' of user '%s'", cmd->device, cmd->user);
        } else {
            snprintf(what, sizeof(what), "user '%s'", cmd->user);
        }
        return report(what, rc, detail);
    }
    return 0;
}

/* Drops tombstones older than `days` in every collection (one transaction each); the
 * collections' tombstone horizons rise, so tokens from before answer "start over" (403
 * valid-sync-token, 475 history-pruned). almanacd runs the same job on its own
 * (tombstone_max_age). */
static int prune(struct store *s, const struct cli_cmd *cmd)
{
    /* "older than 0 days" includes what was deleted this very second */
    int64_t older_than =
        time_now() - (int64_t)cmd->days * SECONDS_PER_DAY + (cmd->days == 0 ? 1 : 0);
    size_t n = 0;
    enum store_rc rc = store_prune_all_tombstones(s, older_than, &n);
    if (rc != STORE_OK) {
        return report("prune", rc, store_last_error(s));
    }
    printf("pruned tombstones older than %llu days in %zu collections\n",
           (unsigned long long)cmd->days, n);
    return 0;
}

/* `check`: the engine's integrity check over the whole store. */
static int check(struct store *s, const struct cli_cmd *cmd)
{
    enum store_rc rc = store_check(s);
    if (rc != STORE_OK) {
        fprintf(stderr, "almanac: the store in %s fails its check: %s\n", cmd->label,
                store_last_error(s));
        return EXIT_FAILED;
    }
    printf("store in %s: ok\n", cmd->label);
    return 0;
}

/* `backup DEST`: a snapshot of the store as it was when the copy began, also while almanacd
 * writes; DEST appears only once complete, synced and checked. */
static int backup(struct store *s, const struct cli_cmd *cmd)
{
    enum store_rc rc = store_backup(s, cmd->path);
    if (rc == STORE_EXISTS) {
        fprintf(stderr, "almanac: %s exists (a backup never replaces a file)\n", cmd->path);
        return EXIT_FAILED;
    }
    if (rc != STORE_OK) {
        fprintf(stderr, "almanac: backup to %s failed: %s\n", cmd->path, store_last_error(s));
        return EXIT_FAILED;
    }
    struct stat st;
    long long size = stat(cmd->path, &st) == 0 ? (long long)st.st_size : -1;
    printf("backup of %s written to %s (%lld bytes, checked)\n", cmd->label, cmd->path, size);
    return 0;
}

/* `restore SRC`: runs before any store is opened (store_restore takes the store for itself);
 * then opens the result once, so its schema is migrated to this version's now. */
static int restore(const struct cli_cmd *cmd)
{
    if (!cmd->data_dir) {
        fprintf(stderr,
                "almanac: cannot restore into %s: a PostgreSQL store is restored with "
                "pg_restore or point-in-time recovery (docs/deploy-postgresql.md)\n",
                cmd->label);
        return EXIT_FAILED;
    }
    char msg[STORE_MSG_MAX];
    enum store_rc rc =
        store_restore(cmd->path, cmd->data_dir, cmd->is_forced ? STORE_RESTORE_FORCE : 0, msg);
    if (rc != STORE_OK) {
        fprintf(stderr, "almanac: cannot restore %s into %s: %s\n", cmd->path, cmd->data_dir, msg);
        return EXIT_FAILED;
    }
    struct store *s = NULL;
    const char *why = NULL;
    if (store_open(cmd->data_dir, &s, &why) != STORE_OK) {
        fprintf(stderr, "almanac: restored %s, but cannot open it: %s\n", cmd->data_dir,
                why ? why : "i/o error");
        return EXIT_FAILED;
    }
    store_close(&s);
    printf("restored %s into %s; sync clients start over\n", cmd->path, cmd->data_dir);
    return 0;
}

static int run(struct store *s, const struct cli_cmd *cmd)
{
    switch (cmd->op) {
    case OP_USER_ADD:
    case OP_USER_PASSWD:
        return user_set_password(s, cmd);
    case OP_USER_DEL:
        return user_del(s, cmd);
    case OP_USER_LIST:
        return user_list(s);
    case OP_USER_ADDR_ADD:
    case OP_USER_ADDR_DEL:
        return address_set(s, cmd->user, cmd->addr, cmd->op == OP_USER_ADDR_ADD);
    case OP_USER_ADDR_LIST:
        return address_list(s, cmd->user);
    case OP_CALENDAR_ADD:
        return calendar_add(s, cmd);
    case OP_CALENDAR_LIST:
        return calendar_list(s, cmd);
    case OP_DEVICE_LIST:
        return device_list(s, cmd);
    case OP_DEVICE_DEL:
        return device_del(s, cmd);
    case OP_PRUNE:
        return prune(s, cmd);
    case OP_IMPORT:
        return transfer_import(s, cmd->user, cmd->calendar, cmd->file, true);
    case OP_EXPORT:
        return transfer_export(s, cmd->user, cmd->calendar, stdout);
    case OP_SUB_ADD:
        return transfer_sub(s, TRANSFER_SUB_ADD, cmd->user, cmd->calendar);
    case OP_SUB_DEL:
        return transfer_sub(s, TRANSFER_SUB_DEL, cmd->user, cmd->calendar);
    case OP_SUB_LIST:
        return transfer_sub(s, TRANSFER_SUB_LIST, cmd->user, NULL);
    case OP_SHARE:
        return share_grant(s, cmd->user, cmd->calendar, cmd->sharee, cmd->access);
    case OP_UNSHARE:
        return share_revoke(s, cmd->user, cmd->calendar, cmd->sharee);
    case OP_SHARE_LIST:
        return share_list(s, cmd->user);
    case OP_INIT:
        printf("store ready in %s\n", cmd->label);
        return 0;
    case OP_CHECK:
        return check(s, cmd);
    case OP_BACKUP:
        return backup(s, cmd);
    case OP_RESTORE:
    case OP_MIGRATE_STORE:
        break; /* main() runs them without an open store */
    case OP_IMIP_QUEUE:
        return imip_queue_list(s);
    case OP_IMIP_RETRY:
        return imip_retry(s, cmd->id);
    case OP_IMIP_DELIVER:
        calstore_imip_configure(cmd->mail_domain, cmd->imip_from, cmd->max_attendees);
        return imip_deliver(s, stdin);
    }
    return usage_error(NULL);
}

/* Fills cmd->where and cmd->label, and cmd->data_dir for SQLite: --data, else --store
 * (sqlite:DIR or a postgresql:// URI), else the store of --config's file (store, else
 * data_dir), else ./data; and the scheduling settings of --config's file. Returns 0 or
 * EXIT_USAGE after printing why. */
static int resolve_store(struct cli_cmd *cmd)
{
    if (cmd->data_dir && cmd->store) {
        return usage_error("--data and --store both name the store; give one");
    }
    struct config cfg;
    config_defaults(&cfg);
    struct err e;
    err_init(&e);
    if (cmd->config_path) {
        if (config_load_file(&cfg, cmd->config_path, &e) != 0) {
            fprintf(stderr, "almanac: %s\n", e.msg);
            return EXIT_USAGE;
        }
        /* same sizes as the config's fields */
        snprintf(cmd->mail_domain, sizeof(cmd->mail_domain), "%s", cfg.mail_domain);
        snprintf(cmd->imip_from, sizeof(cmd->imip_from), "%s", cfg.imip_from);
        cmd->max_attendees = cfg.sched_max_attendees;
    }
    if (!cmd->data_dir) {
        if (cmd->store && config_set(&cfg, "store", cmd->store, &e) != 0) {
            fprintf(stderr, "almanac: --store: %s\n", e.msg);
            return EXIT_USAGE;
        }
        enum config_store_kind kind;
        if (config_store(&cfg, &kind, &e) != 0) {
            fprintf(stderr, "almanac: %s\n", e.msg);
            return EXIT_USAGE;
        }
        if (kind == CONFIG_STORE_POSTGRESQL) {
            snprintf(cmd->pg_uri, sizeof(cmd->pg_uri), "%s", cfg.store); /* same size */
        } else {
            snprintf(cmd->config_dir, sizeof(cmd->config_dir), "%s", cfg.data_dir);
            cmd->data_dir = cmd->config_dir;
        }
    }
    cmd->where = cmd->pg_uri[0] ? cmd->pg_uri : cmd->data_dir;
    config_store_label(cmd->where, cmd->label, sizeof(cmd->label));
    return 0;
}

/* Opens the store the command works on. Only init and user add create one: for any other
 * command a directory without a store is a mistake (a mistyped --data), said as such. A
 * PostgreSQL database is made by its administrator; opening it makes or migrates the schema. */
static int open_store(const struct cli_cmd *cmd, struct store **out)
{
    bool may_create = cmd->op == OP_INIT || cmd->op == OP_USER_ADD;
    if (cmd->data_dir && !may_create && !store_is_present(cmd->data_dir)) {
        fprintf(stderr,
                "almanac: no store at %s (create one with `almanac --data %s init` or "
                "`almanac --data %s user add NAME`)\n",
                cmd->data_dir, cmd->data_dir, cmd->data_dir);
        return EXIT_FAILED;
    }
    if (cmd->data_dir && may_create && mkdir(cmd->data_dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "almanac: cannot create %s: %s\n", cmd->data_dir, strerror(errno));
        return EXIT_FAILED;
    }
    const char *msg = NULL;
    if (store_open(cmd->where, out, &msg) != STORE_OK) {
        fprintf(stderr, "almanac: cannot open the store in %s: %s\n", cmd->label,
                msg ? msg : "i/o error");
        return EXIT_FAILED;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct cli_cmd cmd;
    int status = parse_args(argc, argv, &cmd);
    if (status != 0) {
        return status < 0 ? 0 : status;
    }
    struct store *s = NULL;
    if (cmd.op == OP_MIGRATE_STORE) {
        status = migrate_store(cmd.from, cmd.to); /* opens both stores itself */
        goto out;
    }
    status = resolve_store(&cmd);
    if (status != 0) {
        status = cmd.op == OP_IMIP_DELIVER ? TOOLS_EX_TEMPFAIL : status; /* as below */
        goto out;
    }
    if (sec_init() != 0) {
        fputs("almanac: libsodium failed to initialise\n", stderr);
        status = EXIT_FAILED;
        goto out;
    }
    if (cmd.op == OP_USER_ADD || cmd.op == OP_USER_PASSWD) {
        status = get_password(cmd.is_generated, cmd.password);
        if (status != 0) {
            goto out;
        }
    }
    if (cmd.op == OP_RESTORE) {
        status = restore(&cmd);
        goto out;
    }
    status = open_store(&cmd, &s);
    if (status == 0) {
        cal_init();
        status = run(s, &cmd);
        cal_shutdown();
    } else if (cmd.op == OP_IMIP_DELIVER) {
        /* the store could not be opened (locked by a writer, a bad --config): the MTA keeps
         * the message and tries again rather than bounce it (sysexits.h EX_TEMPFAIL) */
        status = TOOLS_EX_TEMPFAIL;
    }
out:
    if (s) {
        store_close(&s);
    }
    sec_memzero(cmd.password, sizeof(cmd.password));
    return status;
}
