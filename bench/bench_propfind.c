/* SPDX-License-Identifier: MIT
 * bench/bench_propfind.c: Depth-1 PROPFIND of one large collection (issue #2). Starts almanacd
 * on a free port with a fresh store, loads N calendar objects with concurrent keep-alive PUTs
 * (libcurl multi), restarts the server so its peak RSS covers only what follows, then times
 * Depth-1 PROPFINDs of the collection to the last byte and reads almanacd's VmHWM from
 * /proc/PID/status. Counts the <D:response> elements on the fly (the answer is never held)
 * and fails unless there are N + 1. Prints one JSON line. Not part of make check: it times
 * things, which tests never do (STYLE.md §3.10).
 *
 * usage: bench_propfind ALMANACD ALMANAC N [CONNECTIONS [RUNS]] */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#define USER     "bench"
#define PASSWORD "bench-password"
#define CAL_PATH "/calendars/" USER "/cal/"

/* Most concurrent loading connections and timed PROPFIND runs. */
#define MAX_CONNS 64
#define MAX_RUNS  50

/* A running almanacd. */
struct server {
    char dir[256]; /* temp dir holding data/, port, almanacd.log */
    const char *almanacd;
    pid_t pid;
    unsigned port;
};

static void die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("bench_propfind: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* snprintf that dies on truncation. */
static char *fmt(char *buf, size_t size, const char *f, ...)
{
    va_list ap;
    int n;

    va_start(ap, f);
    n = vsnprintf(buf, size, f, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= size) {
        die("string too long for %zu bytes: %s", size, f);
    }
    return buf;
}

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Parse a decimal size_t; dies on anything else. */
static size_t parse_size(const char *s, const char *what)
{
    size_t v = 0;

    if (*s == '\0') {
        die("%s: empty", what);
    }
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9' || v > (SIZE_MAX - 9) / 10) {
            die("%s: not a number", what);
        }
        v = v * 10 + (size_t)(*s - '0');
    }
    return v;
}

/* Run the admin CLI with `args` and `input` on stdin; dies unless it exits 0. */
static void
run_cli(const char *almanac, const char *data, const char *const *args, const char *input)
{
    const char *argv[16] = {almanac, "--data", data};
    size_t argc = 3;
    int fds[2];
    int status;
    pid_t pid;

    for (size_t i = 0; args[i] != NULL && argc + 1 < 16; i++) {
        argv[argc++] = args[i];
    }
    argv[argc] = NULL;
    if (pipe(fds) != 0) {
        die("pipe: %s", strerror(errno));
    }
    pid = fork();
    if (pid == 0) {
        dup2(fds[0], 0);
        close(fds[0]);
        close(fds[1]);
        execv(almanac, (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    close(fds[0]);
    if (input != NULL && write(fds[1], input, strlen(input)) < 0) {
        die("write: %s", strerror(errno));
    }
    close(fds[1]);
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        die("%s %s failed", almanac, args[0]);
    }
}

static void server_start(struct server *s)
{
    char data[300];
    char port_file[300];
    char log_path[300];
    pid_t parent = getpid();

    fmt(data, sizeof(data), "%s/data", s->dir);
    fmt(port_file, sizeof(port_file), "%s/port", s->dir);
    fmt(log_path, sizeof(log_path), "%s/almanacd.log", s->dir);
    unlink(port_file);
    s->pid = fork();
    if (s->pid == 0) {
        const char *argv[] = {s->almanacd,   "--data",  data,          "--listen", "127.0.0.1:0",
                              "--port-file", port_file, "--log-level", "warn",     NULL};
        int log = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);

        if (log < 0 || getppid() != parent) {
            _exit(126);
        }
        dup2(log, 1);
        dup2(log, 2);
        close(log);
        execv(s->almanacd, (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    for (int waited = 0; waited < 20000; waited += 20) {
        FILE *f = fopen(port_file, "r");
        char buf[16] = {0};

        if (f != NULL) {
            size_t n = fread(buf, 1, sizeof(buf) - 1, f);

            fclose(f);
            if (n > 0 && buf[n - 1] == '\n') {
                buf[n - 1] = '\0';
                s->port = (unsigned)parse_size(buf, "port file");
                return;
            }
        }
        if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
            die("almanacd exited at start; see %s", log_path);
        }
        sleep_ms(20);
    }
    die("almanacd wrote no port file within 20 s");
}

static void server_stop(struct server *s)
{
    int status = 0;

    kill(s->pid, SIGTERM);
    if (waitpid(s->pid, &status, 0) != s->pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        die("almanacd did not exit 0 on SIGTERM");
    }
}

/* VmHWM or VmRSS ("VmHWM:") of the server, in KiB, from /proc/PID/status. */
static size_t proc_kib(pid_t pid, const char *key)
{
    char path[64];
    char line[256];
    size_t kib = 0;
    FILE *f = fopen(fmt(path, sizeof(path), "/proc/%d/status", (int)pid), "r");

    if (f == NULL) {
        die("cannot read %s", path);
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, key, strlen(key)) == 0) {
            const char *p = line + strlen(key);

            while (*p == ' ' || *p == '\t') {
                p++;
            }
            while (*p >= '0' && *p <= '9') {
                kib = kib * 10 + (size_t)(*p - '0');
                p++;
            }
        }
    }
    fclose(f);
    return kib;
}

/* One loading connection: PUTs items next, next + conns, ... on one keep-alive handle. */
struct loader {
    CURL *easy;
    struct curl_slist *headers;
    size_t item; /* item index of the PUT in flight */
    char url[160];
    char body[640];
};

static const char EVENT[] = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac bench//EN\r\n"
                            "BEGIN:VEVENT\r\nUID:bench-%zu@almanac\r\nDTSTAMP:20260101T000000Z\r\n"
                            "DTSTART:2026%02zu%02zuT%02zu0000Z\r\nDURATION:PT1H\r\n"
                            "SUMMARY:Benchmark event number %zu\r\nLOCATION:Room %zu\r\n"
                            "END:VEVENT\r\nEND:VCALENDAR\r\n";

static size_t discard(char *ptr, size_t size, size_t nmemb, void *ud)
{
    (void)ptr;
    (void)ud;
    return size * nmemb;
}

static void loader_prepare(struct loader *l, unsigned port, size_t i)
{
    l->item = i;
    fmt(l->url, sizeof(l->url), "http://127.0.0.1:%u" CAL_PATH "ev%07zu.ics", port, i);
    fmt(l->body, sizeof(l->body), EVENT, i, 1 + i % 12, 1 + i % 28, i % 24, i, i % 100);
    curl_easy_setopt(l->easy, CURLOPT_URL, l->url);
    curl_easy_setopt(l->easy, CURLOPT_POSTFIELDS, l->body);
    curl_easy_setopt(l->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(l->body));
}

/* PUT items 0..n-1 over `conns` concurrent keep-alive connections. Returns PUTs per second. */
static double load(unsigned port, size_t n, size_t conns)
{
    struct loader loaders[MAX_CONNS];
    CURLM *multi = curl_multi_init();
    size_t next = 0;
    size_t done = 0;
    int running = 0;
    double t0 = now_ms();

    for (size_t c = 0; c < conns && next < n; c++) {
        struct loader *l = &loaders[c];

        l->easy = curl_easy_init();
        l->headers = curl_slist_append(NULL, "Content-Type: text/calendar; charset=utf-8");
        l->headers = curl_slist_append(l->headers, "Expect:");
        curl_easy_setopt(l->easy, CURLOPT_CUSTOMREQUEST, "PUT");
        curl_easy_setopt(l->easy, CURLOPT_HTTPHEADER, l->headers);
        curl_easy_setopt(l->easy, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(l->easy, CURLOPT_USERPWD, USER ":" PASSWORD);
        curl_easy_setopt(l->easy, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(l->easy, CURLOPT_PRIVATE, l);
        loader_prepare(l, port, next++);
        curl_multi_add_handle(multi, l->easy);
    }
    do {
        CURLMsg *msg;
        int left;

        curl_multi_perform(multi, &running);
        while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
            struct loader *l;
            long status = 0;

            if (msg->msg != CURLMSG_DONE) {
                continue;
            }
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&l);
            curl_easy_getinfo(l->easy, CURLINFO_RESPONSE_CODE, &status);
            if (msg->data.result != CURLE_OK || status != 201) {
                die("PUT item %zu: curl %d, status %ld", l->item, (int)msg->data.result, status);
            }
            done++;
            curl_multi_remove_handle(multi, l->easy);
            if (next < n) {
                loader_prepare(l, port, next++);
                curl_multi_add_handle(multi, l->easy);
                running++;
            }
        }
        if (running > 0) {
            curl_multi_poll(multi, NULL, 0, 1000, NULL);
        }
    } while (running > 0);
    double secs = (now_ms() - t0) / 1000.0;
    for (size_t c = 0; c < conns && c < n; c++) {
        curl_easy_cleanup(loaders[c].easy);
        curl_slist_free_all(loaders[c].headers);
    }
    curl_multi_cleanup(multi);
    if (done != n) {
        die("loaded %zu of %zu items", done, n);
    }
    return (double)n / secs;
}

/* Counts <D:response> elements across write callbacks without holding the body. */
struct counter {
    size_t bytes;
    size_t responses;
    size_t matched;     /* bytes of the tag matched so far, across chunk boundaries */
    pid_t server;       /* almanacd, sampled while the answer streams */
    size_t next_sample; /* byte count at which to sample its VmRSS next */
    size_t max_rss_kib; /* largest VmRSS seen during the answer */
};

static size_t count_responses(char *ptr, size_t size, size_t nmemb, void *ud)
{
    /* no proper prefix of the tag is also its suffix except "<" itself, so on a mismatch
     * matching restarts at 0, or at 1 when the byte is '<' */
    static const char tag[] = "<D:response>";
    struct counter *c = ud;
    size_t n = size * nmemb;

    for (size_t i = 0; i < n; i++) {
        if (ptr[i] == tag[c->matched]) {
            c->matched++;
            if (c->matched == sizeof(tag) - 1) {
                c->responses++;
                c->matched = 0;
            }
        } else {
            c->matched = ptr[i] == '<' ? 1 : 0;
        }
    }
    c->bytes += n;
    if (c->bytes >= c->next_sample) {
        /* VmHWM cannot see below the argon2id peak of the first request, so sample the
         * current RSS every 256 KiB of answer */
        size_t kib = proc_kib(c->server, "VmRSS:");

        c->max_rss_kib = kib > c->max_rss_kib ? kib : c->max_rss_kib;
        c->next_sample = c->bytes + 256 * 1024;
    }
    return n;
}

/* One authenticated request that pays the argon2id verification before measuring. */
static void warm_up(unsigned port)
{
    CURL *e = curl_easy_init();
    char url[128];
    long status = 0;

    curl_easy_setopt(e, CURLOPT_URL, fmt(url, sizeof(url), "http://127.0.0.1:%u" CAL_PATH, port));
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "OPTIONS");
    curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    curl_easy_setopt(e, CURLOPT_USERPWD, USER ":" PASSWORD);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    if (curl_easy_perform(e) != CURLE_OK ||
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK || status != 200) {
        die("warm-up OPTIONS: %ld", status);
    }
    curl_easy_cleanup(e);
}

/* One Depth-1 PROPFIND of the collection; returns ms to the last byte, and the time to the
 * first byte in *ttfb_ms_out. Dies unless 207 with n + 1 responses. */
static double
propfind(unsigned port, pid_t server, size_t n, struct counter *c, double *ttfb_ms_out)
{
    static const char body[] = "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
                               "<D:propfind xmlns:D=\"DAV:\"><D:prop><D:getetag/>"
                               "<D:getcontenttype/><D:resourcetype/></D:prop></D:propfind>";
    CURL *e = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Depth: 1");
    char url[128];
    long status = 0;
    curl_off_t ttfb = 0;
    double t0;
    double ms;

    h = curl_slist_append(h, "Content-Type: application/xml; charset=utf-8");
    memset(c, 0, sizeof(*c));
    c->server = server;
    curl_easy_setopt(e, CURLOPT_URL, fmt(url, sizeof(url), "http://127.0.0.1:%u" CAL_PATH, port));
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PROPFIND");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    curl_easy_setopt(e, CURLOPT_USERPWD, USER ":" PASSWORD);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, count_responses);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    t0 = now_ms();
    if (curl_easy_perform(e) != CURLE_OK) {
        die("PROPFIND failed");
    }
    ms = now_ms() - t0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(e, CURLINFO_STARTTRANSFER_TIME_T, &ttfb);
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
    if (status != 207 || c->responses != n + 1) {
        die("PROPFIND: status %ld, %zu responses for %zu items", status, c->responses, n);
    }
    *ttfb_ms_out = (double)ttfb / 1000.0;
    return ms;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return (x > y) - (x < y);
}

static void remove_tree(const char *dir)
{
    const char *argv[] = {"rm", "-rf", dir, NULL};
    pid_t pid = fork();

    if (pid == 0) {
        execv("/bin/rm", (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    waitpid(pid, NULL, 0);
}

int main(int argc, char **argv)
{
    struct server s = {0};
    size_t n;
    size_t conns = 8;
    size_t runs = 5;
    double times[MAX_RUNS];
    double ttfb[MAX_RUNS];
    struct counter c;
    char data[300];
    const char *tmp = getenv("TMPDIR");

    if (argc < 4 || argc > 6) {
        fprintf(stderr, "usage: %s ALMANACD ALMANAC N [CONNECTIONS [RUNS]]\n", argv[0]);
        return 2;
    }
    s.almanacd = argv[1];
    n = parse_size(argv[3], "N");
    if (argc > 4) {
        conns = parse_size(argv[4], "CONNECTIONS");
    }
    if (argc > 5) {
        runs = parse_size(argv[5], "RUNS");
    }
    if (n == 0 || conns == 0 || conns > MAX_CONNS || runs == 0 || runs > MAX_RUNS) {
        die("N > 0, 1 <= CONNECTIONS <= %d, 1 <= RUNS <= %d", MAX_CONNS, MAX_RUNS);
    }
    fmt(s.dir, sizeof(s.dir), "%s/almanac-bench-XXXXXX", tmp != NULL && *tmp ? tmp : "/tmp");
    if (mkdtemp(s.dir) == NULL) {
        die("mkdtemp: %s", strerror(errno));
    }
    fmt(data, sizeof(data), "%s/data", s.dir);
    {
        const char *user[] = {"user", "add", USER, "--password-stdin", NULL};
        const char *cal[] = {"calendar", "add", USER, "cal", NULL};

        run_cli(argv[2], data, user, PASSWORD "\n");
        run_cli(argv[2], data, cal, NULL);
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);

    server_start(&s);
    double put_rate = load(s.port, n, conns);
    server_stop(&s);

    /* a fresh process: VmHWM now covers only the warm-up and the PROPFINDs */
    server_start(&s);
    size_t idle_kib = proc_kib(s.pid, "VmRSS:");
    warm_up(s.port);
    size_t warm_hwm_kib = proc_kib(s.pid, "VmHWM:");
    size_t during_kib = 0;
    for (size_t r = 0; r < runs; r++) {
        times[r] = propfind(s.port, s.pid, n, &c, &ttfb[r]);
        during_kib = c.max_rss_kib > during_kib ? c.max_rss_kib : during_kib;
    }
    size_t hwm_kib = proc_kib(s.pid, "VmHWM:");
    server_stop(&s);
    curl_global_cleanup();
    remove_tree(s.dir);

    qsort(times, runs, sizeof(times[0]), cmp_double);
    qsort(ttfb, runs, sizeof(ttfb[0]), cmp_double);
    printf("{\"items\": %zu, \"put_per_s\": %.0f, \"load_connections\": %zu, "
           "\"propfind_runs\": %zu, \"propfind_median_ms\": %.1f, \"propfind_min_ms\": %.1f, "
           "\"propfind_max_ms\": %.1f, \"ttfb_median_ms\": %.1f, \"response_bytes\": %zu, "
           "\"responses\": %zu, \"idle_rss_mb\": %.1f, \"hwm_after_auth_mb\": %.1f, "
           "\"rss_during_propfind_mb\": %.1f, \"peak_rss_mb\": %.1f}\n",
           n, put_rate, conns, runs, times[runs / 2], times[0], times[runs - 1], ttfb[runs / 2],
           c.bytes, c.responses, (double)idle_kib / 1024.0, (double)warm_hwm_kib / 1024.0,
           (double)during_kib / 1024.0, (double)hwm_kib / 1024.0);
    return 0;
}
