/*
 * orphan.c - leaves a busy process outside its own tree, then sleeps.
 *
 * Build: cc -O1 -o orphan orphan.c
 * Usage: orphan SECONDS
 *
 * Sleeps half a second first (so the clock has jumped once before anything
 * else is started), then forks a child that forks a grandchild and ends at
 * once. The grandchild,
 * orphaned (reparented to init or a subreaper, out of the program's tree) but
 * still in its process group, spins for 0.3 s of its own CPU time and prints
 *     orphan MONO_ELAPSED
 * (its monotonic clock over the spin); the program meanwhile sleeps SECONDS
 * and prints
 *     root MONO_ELAPSED
 * then waits for the orphan's line before it ends (a pipe it holds open). A
 * virtual clock that jumped while the orphan ran would show in the orphan's
 * line: SECONDS more than its spin. Exit status: 0, or 2 on bad usage.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s SECONDS\n", argv[0]);
        return 2;
    }
    double secs = atof(argv[1]);
    struct timespec half = {0, 500000000};
    nanosleep(&half, NULL);
    int done[2];
    if (pipe(done) < 0)
        return 1;
    pid_t child = fork();
    if (child == 0) {
        if (fork() == 0) {
            close(done[0]);
            double start = now(CLOCK_MONOTONIC);
            while (now(CLOCK_PROCESS_CPUTIME_ID) < 0.3)
                ;
            printf("orphan %.3f\n", now(CLOCK_MONOTONIC) - start);
            fflush(stdout);
            close(done[1]);
            _exit(0);
        }
        _exit(0);
    }
    close(done[1]);
    waitpid(child, NULL, 0);
    double start = now(CLOCK_MONOTONIC);
    struct timespec ask = {(time_t)secs, (long)((secs - (time_t)secs) * 1e9)};
    nanosleep(&ask, NULL);
    printf("root %.3f\n", now(CLOCK_MONOTONIC) - start);
    fflush(stdout);
    char byte;
    while (read(done[0], &byte, 1) > 0)
        ;
    return 0;
}
