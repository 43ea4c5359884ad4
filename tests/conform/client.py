"""A classic-style client for checking `conform` itself: correct unless a defect is named.

Usage: python3 client.py HELLO SERVER_IP SERVER_PORT CONNECTION_ID udp|tcp TIMEOUT [DEFECT]
DEFECT, one per class of bug seen in real submissions:
  short-timeout       gives up after a third of the timeout
  late-unstamped      gives up after four times the timeout (60 s for 15 s), and prints its
                      Connection Error and Failure lines without a timestamp
  reuses-socket       every try on the same socket, and prints "Connection error" (lowercase)
  never-reprompts     gives up after the first failed try
  four-tries          asks for a new ID a third time and tries a fourth time
  prompts-at-the-end  asks for a new ID after its last try too, and input() at the end of input
                      raises
  takes-other-id      takes any OK as its own, and prints "Connection established  <id> <ip>
                      <port>" (two spaces, no timestamp)
  takes-any-source    takes a UDP reply from any address, not only the server's
  ignores-port        sends to a port of its own (a free one the system picks, as a port written
                      into the program would be) instead of SERVER_PORT
  extra-fields        sends "HELLO <id> <server ip> <server port>", and gives up after four times
                      the timeout (60 s for 15 s)
Defects no fixed case reaches (`conform explore client` finds each; TESTING.md says which rule):
  reset-any-id        takes a RESET for any ID as the answer to its request
  case-blind          takes a reply whose ID differs from its own only in letter case
  timeout-restarts    waits the whole timeout again after each reply it ignores
  small-buffer        reads UDP replies into a 32-byte buffer, so a long ID's OK is cut and ignored
  socket-per-id       keeps a UDP socket per ID and uses it again when that ID is typed again
Not a defect, a style seen in real submissions (the client stays correct):
  line-then-prompt    prints "Enter a new connection ID" as a line of its own, then input(">> ")
  same-port           binds each try's new UDP socket to the port of the try before (closed by
                      then), as the system may choose by chance: a new socket every try, on one port
Standard library only. Replies for another ID, malformed replies and (UDP) datagrams from another
address than the server's are ignored until the timeout.
"""
import socket
import sys
import time
from datetime import datetime

_, verb, ip, port, cid, transport, timeout = sys.argv[:7]
defect = sys.argv[7] if len(sys.argv) > 7 else ""
port, timeout = int(port), float(timeout)
if defect == "ignores-port":
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM) as spare:
        spare.bind((ip, 0))
        port = spare.getsockname()[1]
if defect == "short-timeout":
    timeout /= 3
if defect in ("late-unstamped", "extra-fields"):
    timeout *= 4
tries_allowed = 4 if defect == "four-tries" else 3
shared = None


def now():
    return datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")


by_id = {}
last_port = None


def new_socket(cid):
    global shared
    kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    if defect == "reuses-socket" and transport == "udp":
        if shared is None:
            shared = socket.socket(socket.AF_INET, kind)
        return shared
    if defect == "socket-per-id" and transport == "udp":
        if cid not in by_id:
            by_id[cid] = socket.socket(socket.AF_INET, kind)
        return by_id[cid]
    s = socket.socket(socket.AF_INET, kind)
    if defect == "same-port" and transport == "udp":
        global last_port
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((ip, last_port or 0))
        last_port = s.getsockname()[1]
    return s


def kept(s):
    return s is shared or s in by_id.values()


def matches(parts, cid):
    if defect == "reset-any-id" and len(parts) == 2 and parts[0] == "RESET":
        return True
    if defect == "case-blind" and len(parts) in (2, 4) and parts[0] in ("OK", "RESET"):
        return parts[1].lower() == cid.lower() and (len(parts) == 4) == (parts[0] == "OK")
    if defect == "takes-other-id":
        return len(parts) == 4 and parts[0] == "OK" or len(parts) == 2 and parts[0] == "RESET"
    return (len(parts) == 4 and parts[0] == "OK" or len(parts) == 2 and parts[0] == "RESET") and parts[1] == cid


def attempt(cid):
    """The matching reply's fields, or None at the timeout."""
    s = new_socket(cid)
    deadline = time.monotonic() + timeout
    request = ("%s %s" % (verb, cid)).encode()
    if defect == "extra-fields":
        request = ("%s %s %s %d" % (verb, cid, ip, port)).encode()
    try:
        if transport == "udp":
            s.sendto(request, (ip, port))
        else:
            s.settimeout(timeout)
            s.connect((ip, port))
            s.sendall(request)
            s.shutdown(socket.SHUT_WR)
        pending = b""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            s.settimeout(left)
            if transport == "udp":
                data, source = s.recvfrom(32 if defect == "small-buffer" else 2048)
                if defect != "takes-any-source" and source != (ip, port):
                    continue
                lines = [data]
            else:
                data = s.recv(2048)
                if not data:
                    lines, pending = [pending], b""
                else:
                    pending += data
                    *lines, pending = pending.split(b"\n")
            for line in lines:
                parts = line.decode(errors="replace").split()
                if matches(parts, cid):
                    return parts
            if defect == "timeout-restarts" and lines:
                deadline = time.monotonic() + timeout
            if transport == "tcp" and not data:
                return None
    except OSError:
        return None
    finally:
        if not kept(s):
            s.close()


stamp = "" if defect == "late-unstamped" else " on " + "%s"
tries = 0
while tries < tries_allowed:
    parts = attempt(cid)
    tries += 1
    if parts and parts[0] == "OK":
        if defect == "takes-other-id":
            print("Connection established  %s %s %s" % (parts[1], parts[2], parts[3]), flush=True)
        else:
            print("Connection established %s %s %s on %s" % (parts[1], parts[2], parts[3], now()), flush=True)
        sys.exit(0)
    word = "error" if defect == "reuses-socket" else "Error"
    print(("Connection %s %s" + stamp) % ((word, cid, now()) if stamp else (word, cid)), flush=True)
    if defect == "never-reprompts":
        break
    if defect == "prompts-at-the-end":
        cid = input("Enter a new connection ID: ").strip()
    elif tries < tries_allowed:
        try:
            if defect == "line-then-prompt":
                print("Enter a new connection ID", flush=True)
                cid = input(">> ").strip()
            else:
                cid = input("Enter a new connection ID: ").strip()
        except EOFError:
            break
print(("Connection Failure" + stamp) % ((now(),) if stamp else ()), flush=True)
