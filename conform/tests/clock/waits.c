/*
 * waits.c - wait SECONDS with each of a list of libc wait primitives and
 * report how long each one took, by the monotonic and the wall clock.
 *
 * Build: cc -O1 -pthread -o waits waits.c
 * Usage: waits SECONDS [NAME...]
 *
 * For every primitive (all of them, in table order, or only the NAMEs given)
 * one line is printed to stdout:
 *     NAME MONO_ELAPSED WALL_ELAPSED     (seconds, 3 decimals)
 * or, if the primitive failed:
 *     NAME error MESSAGE
 * Exit status: 0 if all primitives worked, 1 if any failed, 2 on bad usage
 * or an unknown primitive name.
 *
 * Every wait is made to time out: nothing ever arrives on the sockets, nobody
 * signals the conditions or posts the semaphores.  Sockets are UDP, bound to
 * 127.0.0.1 port 0 (chosen by the OS).  The clocks are read right before and
 * right after the wait itself (start()/stop()), so setup is not measured.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <math.h> /* isfinite() only, a macro */
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

/* ---- timing ------------------------------------------------------------ */

static struct timespec mono0, mono1, wall0, wall1;

static void start(void)
{
    clock_gettime(CLOCK_MONOTONIC, &mono0);
    clock_gettime(CLOCK_REALTIME, &wall0);
}

static void stop(void)
{
    clock_gettime(CLOCK_MONOTONIC, &mono1);
    clock_gettime(CLOCK_REALTIME, &wall1);
}

static double diff(struct timespec a, struct timespec b)
{
    return (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
}

/* ---- helpers ----------------------------------------------------------- */

static char errbuf[256];

/* Round a non-negative value to the nearest integer (no libm: the build
 * command has no -lm). */
static long long round_ll(double x) { return (long long)(x + 0.5); }

/* Record "WHAT: strerror(ERR)" as the error message; returns -1. */
static int fail(const char *what, int err)
{
    snprintf(errbuf, sizeof errbuf, "%s: %s", what, strerror(err));
    return -1;
}

static struct timespec ts_from(double secs)
{
    struct timespec ts;
    ts.tv_sec = (time_t)secs;
    ts.tv_nsec = (long)round_ll((secs - (double)ts.tv_sec) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec += 1;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static struct timespec ts_add(struct timespec a, struct timespec b)
{
    a.tv_sec += b.tv_sec;
    a.tv_nsec += b.tv_nsec;
    if (a.tv_nsec >= 1000000000L) {
        a.tv_sec += 1;
        a.tv_nsec -= 1000000000L;
    }
    return a;
}

/* Absolute deadline SECS from now on CLOCK. */
static struct timespec deadline(clockid_t clock, double secs)
{
    struct timespec now;
    clock_gettime(clock, &now);
    return ts_add(now, ts_from(secs));
}

static int ms_from(double secs) { return (int)round_ll(secs * 1000.0); }

/* A UDP socket bound to 127.0.0.1:0; nothing is ever sent to it. */
static int udp_socket(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return fail("socket", errno);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int e = errno;
        close(fd);
        return fail("bind", e);
    }
    return fd;
}

/* An epoll instance watching a fresh UDP socket for input. */
static int epoll_on_udp(int *sock)
{
    *sock = udp_socket();
    if (*sock < 0)
        return -1;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
        int e = errno;
        close(*sock);
        return fail("epoll_create1", e);
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = *sock};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, *sock, &ev) < 0) {
        int e = errno;
        close(ep);
        close(*sock);
        return fail("epoll_ctl", e);
    }
    return ep;
}

/* The poll-like calls below must time out: return 0 with nothing ready. */
static int expect_timeout(const char *what, int rc)
{
    if (rc < 0)
        return fail(what, errno);
    if (rc > 0) {
        snprintf(errbuf, sizeof errbuf, "%s: returned %d, expected a timeout", what, rc);
        return -1;
    }
    return 0;
}

/* ---- primitives -------------------------------------------------------- */

/* nanosleep() */
static int w_nanosleep(double secs)
{
    struct timespec req = ts_from(secs), rem;
    start();
    while (nanosleep(&req, &rem) < 0) {
        if (errno != EINTR) {
            stop();
            return fail("nanosleep", errno);
        }
        req = rem;
    }
    stop();
    return 0;
}

/* nanosleep as a raw system call: no library function to interpose, so the
 * clock sees only a thread asleep with a timeout. */
static int w_raw_nanosleep(double secs)
{
    struct timespec req = ts_from(secs), rem;
    start();
    while (syscall(SYS_nanosleep, &req, &rem) < 0) {
        if (errno != EINTR) {
            stop();
            return fail("syscall(SYS_nanosleep)", errno);
        }
        req = rem;
    }
    stop();
    return 0;
}

/* A futex wait through libc's syscall(), as Rust's standard library, parking_lot
 * and others make theirs: nobody wakes the word, so it times out. */
static int futex_timeout(const char *what, long op, const struct timespec *ts)
{
    static uint32_t word;
    long rc = syscall(SYS_futex, &word, op, 0, ts, NULL, FUTEX_BITSET_MATCH_ANY);
    if (rc == 0) {
        snprintf(errbuf, sizeof errbuf, "%s: woken, expected a timeout", what);
        return -1;
    }
    return errno == ETIMEDOUT ? 0 : fail(what, errno);
}

/* futex(FUTEX_WAIT_PRIVATE, relative) */
static int w_futex_wait(double secs)
{
    struct timespec rel = ts_from(secs);
    start();
    int rc = futex_timeout("futex(FUTEX_WAIT)", FUTEX_WAIT_PRIVATE, &rel);
    stop();
    return rc;
}

/* futex(FUTEX_WAIT_BITSET_PRIVATE, absolute on the monotonic clock): Rust's
 * std::thread::park_timeout and Condvar::wait_timeout */
static int w_futex_wait_bitset(double secs)
{
    struct timespec abs = deadline(CLOCK_MONOTONIC, secs);
    start();
    int rc = futex_timeout("futex(FUTEX_WAIT_BITSET)", FUTEX_WAIT_BITSET_PRIVATE, &abs);
    stop();
    return rc;
}

/* futex(FUTEX_WAIT_BITSET_PRIVATE | FUTEX_CLOCK_REALTIME, absolute on the wall clock) */
static int w_futex_wait_bitset_realtime(double secs)
{
    struct timespec abs = deadline(CLOCK_REALTIME, secs);
    start();
    int rc = futex_timeout("futex(FUTEX_WAIT_BITSET|FUTEX_CLOCK_REALTIME)",
                           FUTEX_WAIT_BITSET_PRIVATE | FUTEX_CLOCK_REALTIME, &abs);
    stop();
    return rc;
}

/* clock_nanosleep(CLOCK_MONOTONIC, 0, relative) */
static int w_clock_nanosleep_rel(double secs)
{
    struct timespec req = ts_from(secs), rem;
    int rc;
    start();
    while ((rc = clock_nanosleep(CLOCK_MONOTONIC, 0, &req, &rem)) == EINTR)
        req = rem;
    stop();
    return rc ? fail("clock_nanosleep", rc) : 0;
}

/* clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, now + SECONDS) */
static int w_clock_nanosleep_abs(double secs)
{
    int rc;
    start();
    struct timespec when = deadline(CLOCK_MONOTONIC, secs);
    while ((rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &when, NULL)) == EINTR)
        ;
    stop();
    return rc ? fail("clock_nanosleep", rc) : 0;
}

/* clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, now + SECONDS) */
static int w_clock_nanosleep_realtime_abs(double secs)
{
    int rc;
    start();
    struct timespec when = deadline(CLOCK_REALTIME, secs);
    while ((rc = clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &when, NULL)) == EINTR)
        ;
    stop();
    return rc ? fail("clock_nanosleep", rc) : 0;
}

/* usleep(); POSIX lets usleep reject values >= 1,000,000 us with EINVAL, so
 * longer waits are made of several usleep() calls of under one second.
 * (glibc's usleep calls clock_nanosleep internally, not through the PLT, so
 * only a hook on usleep itself sees it.) */
static int w_usleep(double secs)
{
    long long left = round_ll(secs * 1e6);
    start();
    while (left > 0) {
        useconds_t chunk = left > 999999 ? 999999 : (useconds_t)left;
        if (usleep(chunk) < 0 && errno != EINTR) {
            stop();
            return fail("usleep", errno);
        }
        left -= chunk;
    }
    stop();
    return 0;
}

/* sleep(); it only takes whole seconds, so SECONDS is rounded to the nearest
 * whole second here (a test should pass whole seconds for this one; with
 * SECONDS < 0.5 this waits 0 s).  (glibc's sleep calls clock_nanosleep
 * internally, not through the PLT, so only a hook on sleep itself sees it.) */
static int w_sleep(double secs)
{
    unsigned whole = (unsigned)round_ll(secs);
    start();
    while (whole > 0)
        whole = sleep(whole); /* nonzero only if interrupted by a signal */
    stop();
    return 0;
}

/* poll(POLLIN on an idle UDP socket, timeout in ms) */
static int w_poll(double secs)
{
    int fd = udp_socket();
    if (fd < 0)
        return -1;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    start();
    int rc = poll(&p, 1, ms_from(secs));
    stop();
    rc = expect_timeout("poll", rc);
    close(fd);
    return rc;
}

/* ppoll(POLLIN on an idle UDP socket, timespec timeout) */
static int w_ppoll(double secs)
{
    int fd = udp_socket();
    if (fd < 0)
        return -1;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    struct timespec ts = ts_from(secs);
    start();
    int rc = ppoll(&p, 1, &ts, NULL);
    stop();
    rc = expect_timeout("ppoll", rc);
    close(fd);
    return rc;
}

/* select(read set with an idle UDP socket, timeval timeout) */
static int w_select(double secs)
{
    int fd = udp_socket();
    if (fd < 0)
        return -1;
    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(fd, &rd);
    long long us = round_ll(secs * 1e6);
    struct timeval tv = {.tv_sec = us / 1000000, .tv_usec = us % 1000000};
    start();
    int rc = select(fd + 1, &rd, NULL, NULL, &tv);
    stop();
    rc = expect_timeout("select", rc);
    close(fd);
    return rc;
}

/* pselect(read set with an idle UDP socket, timespec timeout) */
static int w_pselect(double secs)
{
    int fd = udp_socket();
    if (fd < 0)
        return -1;
    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(fd, &rd);
    struct timespec ts = ts_from(secs);
    start();
    int rc = pselect(fd + 1, &rd, NULL, NULL, &ts, NULL);
    stop();
    rc = expect_timeout("pselect", rc);
    close(fd);
    return rc;
}

/* epoll_wait(epoll on an idle UDP socket, timeout in ms) */
static int w_epoll_wait(double secs)
{
    int sock, ep = epoll_on_udp(&sock);
    if (ep < 0)
        return -1;
    struct epoll_event ev;
    start();
    int rc = epoll_wait(ep, &ev, 1, ms_from(secs));
    stop();
    rc = expect_timeout("epoll_wait", rc);
    close(ep);
    close(sock);
    return rc;
}

/* epoll_pwait(epoll on an idle UDP socket, timeout in ms, no sigmask) */
static int w_epoll_pwait(double secs)
{
    int sock, ep = epoll_on_udp(&sock);
    if (ep < 0)
        return -1;
    struct epoll_event ev;
    start();
    int rc = epoll_pwait(ep, &ev, 1, ms_from(secs), NULL);
    stop();
    rc = expect_timeout("epoll_pwait", rc);
    close(ep);
    close(sock);
    return rc;
}

/* epoll_pwait2(epoll on an idle UDP socket, timespec timeout, no sigmask).
 * glibc >= 2.35 has the wrapper; older glibc gets the raw syscall. */
static int call_epoll_pwait2(int ep, struct epoll_event *ev, int n, const struct timespec *ts)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
    return epoll_pwait2(ep, ev, n, ts, NULL);
#else
    return (int)syscall(SYS_epoll_pwait2, ep, ev, n, ts, NULL, (size_t)8);
#endif
}

static int w_epoll_pwait2(double secs)
{
    int sock, ep = epoll_on_udp(&sock);
    if (ep < 0)
        return -1;
    struct epoll_event ev;
    struct timespec ts = ts_from(secs);
    start();
    int rc = call_epoll_pwait2(ep, &ev, 1, &ts);
    stop();
    rc = expect_timeout("epoll_pwait2", rc);
    close(ep);
    close(sock);
    return rc;
}

/* Wait on a condition nobody signals until the deadline passes.  A return
 * of 0 is a spurious wakeup: wait again for the same deadline. */
static int cond_wait_until(pthread_cond_t *c, pthread_mutex_t *m, int use_clockwait,
                           clockid_t clock, double secs, const char *what)
{
    pthread_mutex_lock(m);
    start();
    struct timespec when = deadline(clock, secs);
    int rc;
    do {
        rc = use_clockwait ? pthread_cond_clockwait(c, m, clock, &when)
                           : pthread_cond_timedwait(c, m, &when);
    } while (rc == 0);
    stop();
    pthread_mutex_unlock(m);
    return rc == ETIMEDOUT ? 0 : fail(what, rc);
}

/* pthread_cond_timedwait() on a default (CLOCK_REALTIME) condition */
static int w_pthread_cond_timedwait(double secs)
{
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t c = PTHREAD_COND_INITIALIZER;
    int rc = cond_wait_until(&c, &m, 0, CLOCK_REALTIME, secs, "pthread_cond_timedwait");
    pthread_cond_destroy(&c);
    return rc;
}

/* pthread_cond_timedwait() on a condition with
 * pthread_condattr_setclock(CLOCK_MONOTONIC) */
static int w_pthread_cond_timedwait_monotonic(double secs)
{
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_condattr_t a;
    pthread_cond_t c;
    pthread_condattr_init(&a);
    int rc = pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    if (rc)
        return fail("pthread_condattr_setclock", rc);
    pthread_cond_init(&c, &a);
    pthread_condattr_destroy(&a);
    rc = cond_wait_until(&c, &m, 0, CLOCK_MONOTONIC, secs, "pthread_cond_timedwait");
    pthread_cond_destroy(&c);
    return rc;
}

/* pthread_cond_clockwait(CLOCK_MONOTONIC) */
static int w_pthread_cond_clockwait(double secs)
{
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t c = PTHREAD_COND_INITIALIZER;
    int rc = cond_wait_until(&c, &m, 1, CLOCK_MONOTONIC, secs, "pthread_cond_clockwait");
    pthread_cond_destroy(&c);
    return rc;
}

/* Wait on a semaphore nobody posts until the deadline passes. */
static int sem_wait_until(int use_clockwait, clockid_t clock, double secs, const char *what)
{
    sem_t s;
    if (sem_init(&s, 0, 0) < 0)
        return fail("sem_init", errno);
    start();
    struct timespec when = deadline(clock, secs);
    int rc;
    do {
        rc = use_clockwait ? sem_clockwait(&s, clock, &when) : sem_timedwait(&s, &when);
    } while (rc < 0 && errno == EINTR);
    int err = errno;
    stop();
    sem_destroy(&s);
    if (rc == 0) {
        snprintf(errbuf, sizeof errbuf, "%s: acquired, expected a timeout", what);
        return -1;
    }
    return err == ETIMEDOUT ? 0 : fail(what, err);
}

/* sem_timedwait() (abstime on CLOCK_REALTIME) */
static int w_sem_timedwait(double secs)
{
    return sem_wait_until(0, CLOCK_REALTIME, secs, "sem_timedwait");
}

/* sem_clockwait(CLOCK_MONOTONIC) */
static int w_sem_clockwait(double secs)
{
    return sem_wait_until(1, CLOCK_MONOTONIC, secs, "sem_clockwait");
}

/* A helper thread that holds a mutex until told to let go. */
struct holder {
    pthread_mutex_t mutex;
    sem_t locked;  /* posted by the holder once it owns the mutex */
    sem_t release; /* posted by the main thread when it has timed out */
};

static void *hold_mutex(void *arg)
{
    struct holder *h = arg;
    pthread_mutex_lock(&h->mutex);
    sem_post(&h->locked);
    while (sem_wait(&h->release) < 0) /* untimed: waits for the main thread */
        ;
    pthread_mutex_unlock(&h->mutex);
    return NULL;
}

/* Try to lock a mutex another thread holds for the whole wait. */
static int mutex_lock_until(int use_clocklock, clockid_t clock, double secs, const char *what)
{
    struct holder h;
    pthread_t t;
    pthread_mutex_init(&h.mutex, NULL);
    sem_init(&h.locked, 0, 0);
    sem_init(&h.release, 0, 0);
    int rc = pthread_create(&t, NULL, hold_mutex, &h);
    if (rc)
        return fail("pthread_create", rc);
    while (sem_wait(&h.locked) < 0) /* untimed: until the helper owns it */
        ;
    start();
    struct timespec when = deadline(clock, secs);
    rc = use_clocklock ? pthread_mutex_clocklock(&h.mutex, clock, &when)
                       : pthread_mutex_timedlock(&h.mutex, &when);
    stop();
    if (rc == 0)
        pthread_mutex_unlock(&h.mutex);
    sem_post(&h.release);
    pthread_join(t, NULL);
    sem_destroy(&h.locked);
    sem_destroy(&h.release);
    pthread_mutex_destroy(&h.mutex);
    if (rc == 0) {
        snprintf(errbuf, sizeof errbuf, "%s: acquired, expected a timeout", what);
        return -1;
    }
    return rc == ETIMEDOUT ? 0 : fail(what, rc);
}

/* pthread_mutex_timedlock() (abstime on CLOCK_REALTIME) */
static int w_pthread_mutex_timedlock(double secs)
{
    return mutex_lock_until(0, CLOCK_REALTIME, secs, "pthread_mutex_timedlock");
}

/* pthread_mutex_clocklock(CLOCK_MONOTONIC) */
static int w_pthread_mutex_clocklock(double secs)
{
    return mutex_lock_until(1, CLOCK_MONOTONIC, secs, "pthread_mutex_clocklock");
}

/* recvfrom() on a UDP socket with setsockopt(SO_RCVTIMEO); times out with
 * EAGAIN/EWOULDBLOCK.  SO_RCVTIMEO has microsecond (timeval) resolution. */
static int w_recv_rcvtimeo(double secs)
{
    int fd = udp_socket();
    if (fd < 0)
        return -1;
    long long us = round_ll(secs * 1e6);
    if (us == 0)
        us = 1; /* a zero SO_RCVTIMEO means "block forever" */
    struct timeval tv = {.tv_sec = us / 1000000, .tv_usec = us % 1000000};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0) {
        int e = errno;
        close(fd);
        return fail("setsockopt(SO_RCVTIMEO)", e);
    }
    char buf[16];
    struct sockaddr_in from;
    socklen_t fromlen = sizeof from;
    start();
    ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fromlen);
    int err = errno;
    stop();
    close(fd);
    if (n >= 0) {
        snprintf(errbuf, sizeof errbuf, "recvfrom: received %zd bytes, expected a timeout", n);
        return -1;
    }
    return (err == EAGAIN || err == EWOULDBLOCK) ? 0 : fail("recvfrom", err);
}

/* timerfd_create(CLOCK_MONOTONIC) + timerfd_settime(relative) + blocking
 * read() of the expiration count. */
static int w_timerfd(double secs)
{
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    if (fd < 0)
        return fail("timerfd_create", errno);
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    its.it_value = ts_from(secs);
    if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
        its.it_value.tv_nsec = 1; /* an all-zero it_value disarms the timer */
    start();
    if (timerfd_settime(fd, 0, &its, NULL) < 0) {
        int e = errno;
        stop();
        close(fd);
        return fail("timerfd_settime", e);
    }
    uint64_t expirations;
    ssize_t n;
    while ((n = read(fd, &expirations, sizeof expirations)) < 0 && errno == EINTR)
        ;
    int err = errno;
    stop();
    close(fd);
    if (n < 0)
        return fail("read(timerfd)", err);
    if (n != (ssize_t)sizeof expirations) {
        snprintf(errbuf, sizeof errbuf, "read(timerfd): short read of %zd bytes", n);
        return -1;
    }
    return 0;
}

/* ---- table and driver -------------------------------------------------- */

struct primitive {
    const char *name;
    int (*wait)(double secs);
};

static const struct primitive primitives[] = {
    {"nanosleep", w_nanosleep},
    {"clock_nanosleep_rel", w_clock_nanosleep_rel},
    {"clock_nanosleep_abs", w_clock_nanosleep_abs},
    {"clock_nanosleep_realtime_abs", w_clock_nanosleep_realtime_abs},
    {"usleep", w_usleep},
    {"sleep", w_sleep},
    {"poll", w_poll},
    {"ppoll", w_ppoll},
    {"select", w_select},
    {"pselect", w_pselect},
    {"epoll_wait", w_epoll_wait},
    {"epoll_pwait", w_epoll_pwait},
    {"epoll_pwait2", w_epoll_pwait2},
    {"pthread_cond_timedwait", w_pthread_cond_timedwait},
    {"pthread_cond_timedwait_monotonic", w_pthread_cond_timedwait_monotonic},
    {"pthread_cond_clockwait", w_pthread_cond_clockwait},
    {"sem_timedwait", w_sem_timedwait},
    {"sem_clockwait", w_sem_clockwait},
    {"pthread_mutex_timedlock", w_pthread_mutex_timedlock},
    {"pthread_mutex_clocklock", w_pthread_mutex_clocklock},
    {"recv_rcvtimeo", w_recv_rcvtimeo},
    {"timerfd", w_timerfd},
    {"raw_nanosleep", w_raw_nanosleep},
    {"futex_wait", w_futex_wait},
    {"futex_wait_bitset", w_futex_wait_bitset},
    {"futex_wait_bitset_realtime", w_futex_wait_bitset_realtime},
};

#define NPRIMITIVES (sizeof primitives / sizeof primitives[0])

static const struct primitive *lookup(const char *name)
{
    for (size_t i = 0; i < NPRIMITIVES; i++)
        if (strcmp(primitives[i].name, name) == 0)
            return &primitives[i];
    return NULL;
}

/* Run one primitive and print its line; returns 0 on success, -1 on error. */
static int run(const struct primitive *p, double secs)
{
    errbuf[0] = '\0';
    if (p->wait(secs) < 0) {
        printf("%s error %s\n", p->name, errbuf[0] ? errbuf : "failed");
        fflush(stdout);
        return -1;
    }
    printf("%s %.3f %.3f\n", p->name, diff(mono0, mono1), diff(wall0, wall1));
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s SECONDS [NAME...]\n", argv[0]);
        return 2;
    }
    char *end;
    errno = 0;
    double secs = strtod(argv[1], &end);
    if (errno || end == argv[1] || *end != '\0' || !isfinite(secs) || secs < 0) {
        fprintf(stderr, "usage: %s SECONDS [NAME...]: bad SECONDS '%s'\n", argv[0], argv[1]);
        return 2;
    }

    /* Check every name before waiting on anything. */
    for (int i = 2; i < argc; i++) {
        if (!lookup(argv[i])) {
            fprintf(stderr, "unknown primitive %s\n", argv[i]);
            return 2;
        }
    }

    int failed = 0;
    if (argc == 2) {
        for (size_t i = 0; i < NPRIMITIVES; i++)
            failed |= run(&primitives[i], secs) < 0;
    } else {
        for (int i = 2; i < argc; i++)
            failed |= run(lookup(argv[i]), secs) < 0;
    }
    return failed ? 1 : 0;
}
