"""A thread-based server for checking `conform`: correct, written the way a student fond of threads would.

Usage: python3 threaded_server.py SERVER_IP SERVER_PORT udp|tcp TTL IDLE

Mechanisms (deliberately the ones `conform` should cope with):
  - socketserver.ThreadingUDPServer / ThreadingTCPServer: one thread per request or connection;
  - the idle exit by a threading.Timer(IDLE) cancelled and started again on every request;
  - expiry by a background thread that sweeps the table every second, plus an age check on every
    request so that an ID is free exactly TTL seconds after it was granted.
Over TCP a request ends at a newline, at the end of the stream (a half-close), once it reads as a
whole `HELLO <id>` and nothing more has come for 0.2 s, or as soon as no further bytes could make it
one (a wrong verb, a second space, an ID over 64 characters...); a connection that sends nothing for
5 s is closed without a word. The idle timer restarts whenever bytes of a request arrive.
Standard library only.
"""
import socket
import socketserver
import sys
import threading
import time

ip, port, transport = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ttl, idle = float(sys.argv[4]), float(sys.argv[5])

QUIET = 0.2  # a complete-looking TCP request is answered once the client has been quiet this long
SILENT_LIMIT = 5.0  # a TCP connection that sends nothing for this long is closed
MAX_ID = 64

in_use = {}  # connection ID -> time.monotonic() when it was granted
table_lock = threading.Lock()
stopping = threading.Event()


def parse(data):
    """The ID of a well-formed request, else None."""
    if data.endswith(b"\r\n"):
        data = data[:-2]
    elif data.endswith(b"\n"):
        data = data[:-1]
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return None
    parts = text.split(" ")
    if len(parts) != 2 or parts[0] != "HELLO":
        return None
    cid = parts[1]
    if not 1 <= len(cid) <= MAX_ID:
        return None
    if not all("!" <= ch <= "~" for ch in cid):
        return None
    return cid


def could_grow_valid(data):
    """Whether more bytes could still make `data` a well-formed request (over TCP)."""
    if data.endswith(b"\r"):
        data = data[:-1]
    head = b"HELLO "
    if len(data) <= len(head):
        return head.startswith(data)
    cid = data[len(head):]
    return (data.startswith(head) and len(cid) <= MAX_ID
            and all(0x21 <= b <= 0x7E for b in cid))


def answer(data, addr):
    """The reply to a whole request (None for a malformed one)."""
    cid = parse(data)
    if cid is None:
        print("ignored malformed request (%d bytes) from %s:%d" % (len(data), addr[0], addr[1]),
              flush=True)
        return None
    now = time.monotonic()
    with table_lock:
        granted = in_use.get(cid)
        if granted is not None and now - granted < ttl:
            reply = "RESET %s" % cid
        else:
            in_use[cid] = now
            reply = "OK %s %s %d" % (cid, addr[0], addr[1])
    if reply.startswith("OK"):
        print("OK %s to %s:%d" % (cid, addr[0], addr[1]), flush=True)
    else:
        print("RESET %s to %s:%d" % (cid, addr[0], addr[1]), flush=True)
    return reply


class IdleTimer:
    """A threading.Timer that fires after IDLE seconds without a request."""

    def __init__(self, seconds, on_fire):
        self.seconds = seconds
        self.on_fire = on_fire
        self.lock = threading.Lock()
        self.timer = None

    def restart(self):
        with self.lock:
            if stopping.is_set():
                return
            if self.timer is not None:
                self.timer.cancel()
            self.timer = threading.Timer(self.seconds, self._fire)
            self.timer.daemon = True
            self.timer.start()

    def _fire(self):
        with self.lock:
            # A request may have restarted the timer just as this one fired: only the current one counts.
            if self.timer is not threading.current_thread() or stopping.is_set():
                return
            stopping.set()
        self.on_fire()


def timed_out():
    print("Server timed out after %g s without requests" % idle, flush=True)
    # shutdown() waits for serve_forever() to return, so it must be called from another thread
    # than the one serving: this is the timer's thread.
    server.shutdown()


def sweep():
    """Removes expired IDs every second (requests check the age themselves, to be exact)."""
    tick = threading.Event()
    while not stopping.is_set():
        tick.wait(1.0)
        now = time.monotonic()
        with table_lock:
            for cid in [c for c, at in in_use.items() if now - at >= ttl]:
                del in_use[cid]


class UDPHandler(socketserver.BaseRequestHandler):
    def handle(self):
        data, sock = self.request
        idle_timer.restart()  # any datagram, well-formed or not, is a request
        reply = answer(data, self.client_address)
        if reply is not None:
            sock.sendto(reply.encode(), self.client_address)


class TCPHandler(socketserver.BaseRequestHandler):
    def handle(self):
        conn = self.request
        conn.settimeout(QUIET)
        data = b""
        last_byte = time.monotonic()
        while True:
            if b"\n" in data:
                data = data[: data.index(b"\n") + 1]
                break  # a line: the request is whole
            if not could_grow_valid(data):
                break  # malformed already: no more bytes can fix it
            try:
                chunk = conn.recv(4096)
            except socket.timeout:
                if data and parse(data) is not None:
                    break  # a whole request, and the client has gone quiet: answer it
                if time.monotonic() - last_byte >= SILENT_LIMIT:
                    return  # silent (or stuck half-way) for too long: close without a word
                continue
            except OSError:
                return
            # Bytes (or the end of the stream) from a client are a request: restart the idle timer
            # at their arrival, not at the answer.
            idle_timer.restart()
            if not chunk:
                break  # end of stream (a half-close): the request is whatever came
            data += chunk
            last_byte = time.monotonic()
        reply = answer(data, self.client_address)
        if reply is not None:
            try:
                conn.sendall(reply.encode() + b"\n")
            except OSError:
                pass


class UDPServer(socketserver.ThreadingUDPServer):
    allow_reuse_address = True
    daemon_threads = True


class TCPServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 64


if transport == "udp":
    server = UDPServer((ip, port), UDPHandler)
elif transport == "tcp":
    server = TCPServer((ip, port), TCPHandler)
else:
    print("unknown transport %r: use udp or tcp" % transport, file=sys.stderr, flush=True)
    sys.exit(2)

idle_timer = IdleTimer(idle, timed_out)
print("listening on %s %s:%d" % (transport, ip, server.server_address[1]), flush=True)
threading.Thread(target=sweep, daemon=True).start()
idle_timer.restart()
try:
    server.serve_forever(poll_interval=0.25)
finally:
    server.server_close()
sys.exit(0)
