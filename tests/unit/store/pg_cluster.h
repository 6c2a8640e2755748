/* tests/unit/store/pg_cluster.h: how the unit tests of the PostgreSQL engine get a database.
 * Under ctest ALMANAC_PG_URI is unset: the test runs itself again inside a private cluster
 * (tests/integration/pgcluster.py run, which sets ALMANAC_PG_URI and stops the cluster by
 * its PID afterwards). Header-only: each test binary is one file. */
#ifndef ALMANAC_TESTS_UNIT_STORE_PG_CLUSTER_H
#define ALMANAC_TESTS_UNIT_STORE_PG_CLUSTER_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Replaces the process with `pgcluster.py run -- argv[0]`; returns 1 (said on stderr) when
 * that cannot be done. `name` prefixes the messages. */
static inline int pg_cluster_reexec(const char *name, char **argv)
{
    const char *src = getenv("ALMANAC_SOURCE_DIR");
    if (!src) {
        fprintf(stderr, "%s: set ALMANAC_PG_URI, or ALMANAC_SOURCE_DIR to start a cluster\n", name);
        return 1;
    }
    char script[4096];
    snprintf(script, sizeof(script), "%s/tests/integration/pgcluster.py", src);
    char python[] = "/usr/bin/python3";
    char run[] = "run";
    char dashes[] = "--";
    char *args[] = {python, script, run, dashes, argv[0], NULL};
    execv(python, args);
    fprintf(stderr, "%s: execv python3: ", name);
    perror(NULL);
    return 1;
}

#endif
