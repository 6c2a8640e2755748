/* tests/fuzz/replay.c: a corpus replayer for fuzz targets built without libFuzzer (gcc, the
 * `make check` build; STYLE.md §3.10). Takes the part of libFuzzer's command line that
 * replaying needs: `fuzz_<target> [-timeout=N] FILE_OR_DIR...` calls LLVMFuzzerInitialize()
 * once (when the target has one), then LLVMFuzzerTestOneInput() on every file named and every
 * regular file in every directory named, in name order. Each input must return within N
 * seconds of CPU time (default 1, as scripts/fuzz.sh gives libFuzzer): SIGPROF's default
 * action ends the process, so a hang fails the test as it fails a fuzzing run. CPU time, not
 * wall time, because `make check` shares the machine with other tests (and, on a shared
 * machine, other builds): a seed that needs 0.5 s of CPU took over 3 s of wall time at a load
 * of 10. Prints each input's name before running it, so the last line names the culprit of a
 * crash or a hang. Exit 0 when every input ran. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>

#include "util/parse.h"
#include "util/slice.h"

/* Optional, as for libFuzzer: a target without set-up does not define it. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
    REPLAY_MAX_INPUT = 16 << 20, /* bytes of one input; a seed is a few KiB */
    REPLAY_MAX_PATH = 4096,
};

/* Reads `path` whole into a malloc'd buffer (*data_out, caller frees). Returns 0 or -1. */
static int read_input(const char *path, uint8_t **data_out, size_t *size_out)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return -1;
    }
    uint8_t *data = malloc(REPLAY_MAX_INPUT);
    if (!data) {
        abort();
    }
    size_t n = fread(data, 1, REPLAY_MAX_INPUT, f);
    int rc = ferror(f) || !feof(f) ? -1 : 0;
    fclose(f);
    if (rc != 0) {
        free(data);
        return -1;
    }
    *data_out = data;
    *size_out = n;
    return 0;
}

/* Ends the process with SIGPROF once it has used `seconds` more of CPU time (0 disarms). */
static void arm_cpu_timer(unsigned seconds)
{
    struct itimerval t = {.it_value = {.tv_sec = (time_t)seconds}};
    if (setitimer(ITIMER_PROF, &t, NULL) != 0) {
        abort();
    }
}

/* Runs one input. Returns 1 (inputs run), or -1 when it cannot be read. */
static int run_file(const char *path, unsigned timeout)
{
    uint8_t *data = NULL;
    size_t size = 0;
    if (read_input(path, &data, &size) != 0) {
        fprintf(stderr, "replay: cannot read %s (or larger than %d bytes)\n", path,
                REPLAY_MAX_INPUT);
        return -1;
    }
    printf("replay: %s (%zu bytes)\n", path, size);
    fflush(stdout);
    arm_cpu_timer(timeout);
    LLVMFuzzerTestOneInput(data, size);
    arm_cpu_timer(0);
    free(data);
    return 1;
}

static int name_order(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every regular file directly in `dir`, in name order. Returns the number run, or -1. */
static int run_dir(const char *dir, unsigned timeout)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "replay: cannot open %s\n", dir);
        return -1;
    }
    char **names = NULL;
    size_t n = 0;
    for (struct dirent *de = readdir(d); de; de = readdir(d)) {
        if (de->d_name[0] == '.') {
            continue;
        }
        char **grown = realloc(names, (n + 1) * sizeof(*names));
        char *path = malloc(REPLAY_MAX_PATH);
        if (!grown || !path) {
            abort();
        }
        names = grown;
        if (snprintf(path, REPLAY_MAX_PATH, "%s/%s", dir, de->d_name) >= REPLAY_MAX_PATH) {
            abort();
        }
        names[n++] = path;
    }
    closedir(d);
    qsort(names, n, sizeof(*names), name_order);
    int ran = 0;
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (ran >= 0 && stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
            ran = run_file(names[i], timeout) < 0 ? -1 : ran + 1;
        }
        free(names[i]);
    }
    free(names);
    return ran;
}

int main(int argc, char **argv)
{
    unsigned timeout = 1;
    if (LLVMFuzzerInitialize) {
        LLVMFuzzerInitialize(&argc, &argv);
    }
    int inputs = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "-timeout=", 9) == 0) {
            uint64_t v = 0;
            if (parse_u64(slice_from_cstr(a + 9), &v) != 0 || v == 0 || v > 3600) {
                fprintf(stderr, "replay: bad %s\n", a);
                return 2;
            }
            timeout = (unsigned)v;
            continue;
        }
        if (a[0] == '-') {
            continue; /* another libFuzzer flag: meaningless for a replay */
        }
        struct stat st;
        if (stat(a, &st) != 0) {
            fprintf(stderr, "replay: no such file or directory %s\n", a);
            return 1;
        }
        int rc = S_ISDIR(st.st_mode) ? run_dir(a, timeout) : run_file(a, timeout);
        if (rc < 0) {
            return 1;
        }
        inputs += rc;
    }
    printf("replay: %d inputs, none crashed or ran past %u s\n", inputs, timeout);
    return inputs > 0 ? 0 : 1;
}
