/* bench/pg_rtcount.c: an LD_PRELOAD library for bench/pg_roundtrips.py that counts the round
 * trips a process makes to PostgreSQL through libpq: every call that waits for the server's
 * answer (PQexec, PQexecParams, PQexecPrepared, PQprepare, PQdescribePrepared) and every
 * PQpipelineSync (one round trip for the whole pipeline). The count is a uint64_t at the
 * start of the file named by ALMANAC_RTCOUNT_FILE (made by the bench), updated atomically.
 * Built by the bench: cc -shared -fPIC -O2 -o pg_rtcount.so pg_rtcount.c -ldl */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;
typedef unsigned int Oid;

static uint64_t *counter;

static void count(void)
{
    if (!counter) {
        const char *path = getenv("ALMANAC_RTCOUNT_FILE");
        int fd = path ? open(path, O_RDWR) : -1;
        if (fd < 0) {
            return;
        }
        void *m = mmap(NULL, sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        close(fd);
        if (m == MAP_FAILED) {
            return;
        }
        counter = m;
    }
    __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
}

#define NEXT(name) ((name##_fn)dlsym(RTLD_NEXT, #name))

typedef PGresult *(*PQexec_fn)(PGconn *, const char *);

PGresult *PQexec(PGconn *c, const char *q)
{
    count();
    return NEXT(PQexec)(c, q);
}

typedef PGresult *(*PQexecParams_fn)(
    PGconn *, const char *, int, const Oid *, const char *const *, const int *, const int *, int);

PGresult *PQexecParams(PGconn *c,
                       const char *q,
                       int n,
                       const Oid *t,
                       const char *const *v,
                       const int *l,
                       const int *f,
                       int rf)
{
    count();
    return NEXT(PQexecParams)(c, q, n, t, v, l, f, rf);
}

typedef PGresult *(*PQexecPrepared_fn)(
    PGconn *, const char *, int, const char *const *, const int *, const int *, int);

PGresult *PQexecPrepared(
    PGconn *c, const char *s, int n, const char *const *v, const int *l, const int *f, int rf)
{
    count();
    return NEXT(PQexecPrepared)(c, s, n, v, l, f, rf);
}

typedef PGresult *(*PQprepare_fn)(PGconn *, const char *, const char *, int, const Oid *);

PGresult *PQprepare(PGconn *c, const char *s, const char *q, int n, const Oid *t)
{
    count();
    return NEXT(PQprepare)(c, s, q, n, t);
}

typedef PGresult *(*PQdescribePrepared_fn)(PGconn *, const char *);

PGresult *PQdescribePrepared(PGconn *c, const char *s)
{
    count();
    return NEXT(PQdescribePrepared)(c, s);
}

typedef int (*PQpipelineSync_fn)(PGconn *);

int PQpipelineSync(PGconn *c)
{
    count();
    return NEXT(PQpipelineSync)(c);
}
