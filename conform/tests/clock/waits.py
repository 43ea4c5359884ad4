#!/usr/bin/env python3
"""Wait SECONDS with each of a list of Python wait primitives and report how
long each one took, by the monotonic and the wall clock.

Usage: python3 waits.py SECONDS [NAME...]

For every primitive (all of them, in table order, or only the NAMEs given)
one line is printed to stdout:
    NAME MONO_ELAPSED WALL_ELAPSED     (seconds, 3 decimals)
or, if the primitive failed:
    NAME error MESSAGE
Exit status: 0 if all primitives worked, 1 if any failed, 2 on bad usage or
an unknown primitive name.

Every wait is made to time out: nothing ever arrives on the sockets, nobody
sets the events or notifies the conditions.  Sockets are UDP, bound to
127.0.0.1 port 0 (chosen by the OS).  The clocks are read right before and
right after the wait itself (Span.start()/stop()), so setup is not measured.
The comment on each primitive names the libc call CPython (3.11, Linux) is
expected to reach.
"""

import asyncio
import math
import queue
import select
import selectors
import socket
import sys
import threading
import time


class Span:
    """Monotonic and wall-clock readings around one wait."""

    def start(self):
        self.mono0 = time.monotonic()
        self.wall0 = time.time()

    def stop(self):
        self.mono1 = time.monotonic()
        self.wall1 = time.time()


class Failure(Exception):
    """The primitive did not wait the way it should have."""


def udp_socket():
    """A UDP socket bound to 127.0.0.1:0; nothing is ever sent to it."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    return s


# time.sleep(): clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)
def w_time_sleep(secs, span):
    span.start()
    time.sleep(secs)
    span.stop()


# socket.settimeout() + recvfrom(): poll(POLLIN, timeout in ms)
def w_socket_timeout(secs, span):
    with udp_socket() as s:
        s.settimeout(secs)
        span.start()
        try:
            s.recvfrom(16)
        except TimeoutError:  # socket.timeout is an alias of TimeoutError
            span.stop()
            return
        raise Failure("recvfrom returned data, expected a timeout")


# select.select(): select(timeval)
def w_select(secs, span):
    with udp_socket() as s:
        span.start()
        ready = select.select([s], [], [], secs)
        span.stop()
        if any(ready):
            raise Failure("select reported a ready socket, expected a timeout")


# selectors.DefaultSelector (EpollSelector on Linux): epoll_wait(timeout in ms)
def w_selectors(secs, span):
    with udp_socket() as s, selectors.DefaultSelector() as sel:
        sel.register(s, selectors.EVENT_READ)
        span.start()
        events = sel.select(timeout=secs)
        span.stop()
        if events:
            raise Failure("selector reported a ready socket, expected a timeout")


# threading.Timer: its thread waits with Event.wait(timeout), i.e.
# sem_clockwait(CLOCK_MONOTONIC) (glibc >= 2.30); the main thread waits on an
# Event without a timeout (an untimed sem_wait / futex wait).  With two
# threads, taking the GIL also reaches pthread_cond_timedwait (a
# CLOCK_MONOTONIC condition, 5 ms steps = sys.getswitchinterval()).
def w_threading_timer(secs, span):
    fired = threading.Event()
    timer = threading.Timer(secs, fired.set)
    span.start()
    timer.start()
    fired.wait()
    span.stop()
    timer.join()


# threading.Event.wait(timeout): sem_clockwait(CLOCK_MONOTONIC)
def w_event_wait(secs, span):
    event = threading.Event()
    span.start()
    got = event.wait(secs)
    span.stop()
    if got:
        raise Failure("event was set, expected a timeout")


# threading.Condition.wait(timeout): sem_clockwait(CLOCK_MONOTONIC)
def w_condition_wait(secs, span):
    cond = threading.Condition()
    with cond:
        span.start()
        got = cond.wait(secs)
        span.stop()
    if got:
        raise Failure("condition was notified, expected a timeout")


# queue.Queue.get(timeout): Condition.wait, i.e. sem_clockwait(CLOCK_MONOTONIC)
def w_queue_get(secs, span):
    q = queue.Queue()
    span.start()
    try:
        q.get(timeout=secs)
    except queue.Empty:
        span.stop()
        return
    raise Failure("queue returned an item, expected a timeout")


# threading.Lock.acquire(timeout) on a held lock: sem_clockwait(CLOCK_MONOTONIC)
def w_lock_acquire(secs, span):
    lock = threading.Lock()
    lock.acquire()  # held by us for the whole wait
    span.start()
    got = lock.acquire(timeout=secs)
    span.stop()
    lock.release()
    if got:
        raise Failure("lock was acquired, expected a timeout")


# asyncio.sleep(): the event loop's epoll_wait(timeout in ms)
def w_asyncio_sleep(secs, span):
    async def main():
        span.start()
        await asyncio.sleep(secs)
        span.stop()

    asyncio.run(main())


# asyncio.wait_for() on a future nobody completes: epoll_wait(timeout in ms)
def w_asyncio_wait_for(secs, span):
    async def main():
        never = asyncio.get_running_loop().create_future()
        span.start()
        try:
            await asyncio.wait_for(never, secs)
        except TimeoutError:  # asyncio.TimeoutError is TimeoutError in 3.11
            span.stop()
            return
        raise Failure("future completed, expected a timeout")

    asyncio.run(main())


PRIMITIVES = {
    "time.sleep": w_time_sleep,
    "socket_timeout": w_socket_timeout,
    "select": w_select,
    "selectors": w_selectors,
    "threading.Timer": w_threading_timer,
    "Event.wait": w_event_wait,
    "Condition.wait": w_condition_wait,
    "queue.get": w_queue_get,
    "Lock.acquire": w_lock_acquire,
    "asyncio.sleep": w_asyncio_sleep,
    "asyncio.wait_for": w_asyncio_wait_for,
}


def run(name, secs):
    """Run one primitive and print its line; returns True on success."""
    span = Span()
    try:
        PRIMITIVES[name](secs, span)
    except Exception as e:  # report any failure and go on with the next one
        print(f"{name} error {type(e).__name__}: {e}", flush=True)
        return False
    mono = span.mono1 - span.mono0
    wall = span.wall1 - span.wall0
    print(f"{name} {mono:.3f} {wall:.3f}", flush=True)
    return True


def main(argv):
    if len(argv) < 2:
        print(f"usage: {argv[0]} SECONDS [NAME...]", file=sys.stderr)
        return 2
    try:
        secs = float(argv[1])
        if not math.isfinite(secs) or secs < 0:
            raise ValueError(argv[1])
    except ValueError:
        print(f"usage: {argv[0]} SECONDS [NAME...]: bad SECONDS '{argv[1]}'",
              file=sys.stderr)
        return 2

    names = argv[2:] or list(PRIMITIVES)
    for name in names:  # check every name before waiting on anything
        if name not in PRIMITIVES:
            print(f"unknown primitive {name}", file=sys.stderr)
            return 2

    ok = True
    for name in names:
        ok = run(name, secs) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
