// Waits.java - wait SECONDS with each of a list of Java wait primitives and
// report how long each one took, by the monotonic and the wall clock.
//
// Usage: java Waits.java SECONDS [NAME...]     (Java 17 source-launcher mode)
//
// For every primitive (all of them, in table order, or only the NAMEs given)
// one line is printed to stdout:
//     NAME MONO_ELAPSED WALL_ELAPSED     (seconds, 3 decimals)
// or, if the primitive failed:
//     NAME error MESSAGE
// Exit status: 0 if all primitives worked, 1 if any failed, 2 on bad usage or
// an unknown primitive name.
//
// Every wait is made to time out: nothing is ever sent to the sockets, nobody
// notifies, unparks or counts down.  Sockets are bound to 127.0.0.1 port 0
// (chosen by the OS).  The clocks are read right before and right after the
// wait itself (span.start()/stop()), so setup is not measured.  The comment
// on each primitive names the libc call HotSpot (OpenJDK 17, Linux) is
// expected to reach.  APIs taking milliseconds get SECONDS rounded to ms.

import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.SocketTimeoutException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

public class Waits {

    /** Monotonic and wall-clock readings around one wait. */
    static final class Span {
        long mono0, mono1, wall0, wall1;

        void start() {
            mono0 = System.nanoTime();
            wall0 = System.currentTimeMillis();
        }

        void stop() {
            mono1 = System.nanoTime();
            wall1 = System.currentTimeMillis();
        }
    }

    /** The primitive did not wait the way it should have. */
    static final class Failure extends Exception {
        Failure(String message) {
            super(message);
        }
    }

    interface Primitive {
        void await(long nanos, Span span) throws Exception;
    }

    static long millis(long nanos) {
        return (nanos + 500_000) / 1_000_000;
    }

    static InetAddress loopback() throws Exception {
        return InetAddress.getByName("127.0.0.1");
    }

    // Thread.sleep(ms): pthread_cond_timedwait on a CLOCK_MONOTONIC condition
    // (HotSpot's os::PlatformEvent::park(ms))
    static void threadSleep(long nanos, Span span) throws Exception {
        span.start();
        Thread.sleep(millis(nanos));
        span.stop();
    }

    // Object.wait(ms) on a monitor nobody notifies: pthread_cond_timedwait on
    // a CLOCK_MONOTONIC condition (ObjectMonitor::wait -> PlatformEvent::park).
    // A spurious wakeup is answered by waiting for the rest of the time.
    static void objectWait(long nanos, Span span) throws Exception {
        Object monitor = new Object();
        synchronized (monitor) {
            span.start();
            long deadline = System.nanoTime() + nanos;
            long left;
            while ((left = deadline - System.nanoTime()) > 0) {
                monitor.wait((left + 999_999) / 1_000_000); // ms, rounded up
            }
            span.stop();
        }
    }

    // DatagramSocket.setSoTimeout(ms) + receive(): poll(POLLIN, timeout in ms)
    static void socketSoTimeout(long nanos, Span span) throws Exception {
        try (DatagramSocket socket = new DatagramSocket(new InetSocketAddress(loopback(), 0))) {
            socket.setSoTimeout((int) millis(nanos));
            DatagramPacket packet = new DatagramPacket(new byte[16], 16);
            span.start();
            try {
                socket.receive(packet);
            } catch (SocketTimeoutException expected) {
                span.stop();
                return;
            }
            throw new Failure("received a datagram, expected a timeout");
        }
    }

    // ServerSocket.setSoTimeout(ms) + accept(): poll(POLLIN, timeout in ms)
    static void serverSocketSoTimeout(long nanos, Span span) throws Exception {
        try (ServerSocket server = new ServerSocket(0, 1, loopback())) {
            server.setSoTimeout((int) millis(nanos));
            span.start();
            try {
                server.accept().close();
            } catch (SocketTimeoutException expected) {
                span.stop();
                return;
            }
            throw new Failure("accepted a connection, expected a timeout");
        }
    }

    // ScheduledExecutorService.schedule(task, SECONDS), then an untimed
    // future.get(): the executor thread parks with a timeout,
    // pthread_cond_timedwait on a CLOCK_MONOTONIC condition (Parker::park);
    // the main thread parks without one (pthread_cond_wait).
    static void scheduledExecutor(long nanos, Span span) throws Exception {
        ScheduledExecutorService executor = Executors.newSingleThreadScheduledExecutor();
        try {
            span.start();
            ScheduledFuture<?> future = executor.schedule(() -> { }, nanos, TimeUnit.NANOSECONDS);
            future.get();
            span.stop();
        } finally {
            executor.shutdownNow();
        }
    }

    // LockSupport.parkNanos(ns): pthread_cond_timedwait on a CLOCK_MONOTONIC
    // condition (Parker::park).  Park may return early (spuriously), so park
    // again for the rest of the time.
    static void parkNanos(long nanos, Span span) {
        span.start();
        long deadline = System.nanoTime() + nanos;
        long left;
        while ((left = deadline - System.nanoTime()) > 0) {
            LockSupport.parkNanos(left);
        }
        span.stop();
    }

    // CountDownLatch.await(ns) on a latch nobody counts down: parkNanos, i.e.
    // pthread_cond_timedwait on a CLOCK_MONOTONIC condition (Parker::park)
    static void countDownLatch(long nanos, Span span) throws Exception {
        CountDownLatch latch = new CountDownLatch(1);
        span.start();
        boolean reached = latch.await(nanos, TimeUnit.NANOSECONDS);
        span.stop();
        if (reached) {
            throw new Failure("latch reached zero, expected a timeout");
        }
    }

    static final Map<String, Primitive> PRIMITIVES = new LinkedHashMap<>();

    static {
        PRIMITIVES.put("Thread.sleep", Waits::threadSleep);
        PRIMITIVES.put("Object.wait", Waits::objectWait);
        PRIMITIVES.put("Socket.setSoTimeout", Waits::socketSoTimeout);
        PRIMITIVES.put("ServerSocket.setSoTimeout", Waits::serverSocketSoTimeout);
        PRIMITIVES.put("ScheduledExecutorService", Waits::scheduledExecutor);
        PRIMITIVES.put("LockSupport.parkNanos", Waits::parkNanos);
        PRIMITIVES.put("CountDownLatch.await", Waits::countDownLatch);
    }

    /** Runs one primitive and prints its line; returns true on success. */
    static boolean run(String name, long nanos) {
        Span span = new Span();
        try {
            PRIMITIVES.get(name).await(nanos, span);
        } catch (Exception e) {
            System.out.println(name + " error " + e);
            System.out.flush();
            return false;
        }
        double mono = (span.mono1 - span.mono0) / 1e9;
        double wall = (span.wall1 - span.wall0) / 1e3;
        System.out.println(String.format(Locale.ROOT, "%s %.3f %.3f", name, mono, wall));
        System.out.flush();
        return true;
    }

    public static void main(String[] args) {
        String usage = "usage: java Waits.java SECONDS [NAME...]";
        if (args.length < 1) {
            System.err.println(usage);
            System.exit(2);
        }
        double secs;
        try {
            secs = Double.parseDouble(args[0]);
        } catch (NumberFormatException e) {
            secs = Double.NaN;
        }
        if (!Double.isFinite(secs) || secs < 0) {
            System.err.println(usage + ": bad SECONDS '" + args[0] + "'");
            System.exit(2);
        }
        long nanos = Math.round(secs * 1e9);

        List<String> names = args.length > 1
                ? List.of(args).subList(1, args.length)
                : List.copyOf(PRIMITIVES.keySet());
        for (String name : names) { // check every name before waiting on anything
            if (!PRIMITIVES.containsKey(name)) {
                System.err.println("unknown primitive " + name);
                System.exit(2);
            }
        }

        boolean ok = true;
        for (String name : names) {
            ok = run(name, nanos) && ok;
        }
        System.exit(ok ? 0 : 1);
    }
}
