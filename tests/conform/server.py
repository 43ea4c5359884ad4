"""A classic-style server for checking `conform` itself: correct unless a defect is named.

Usage: python3 server.py SERVER_IP SERVER_PORT udp|tcp TTL IDLE [DEFECT]
DEFECT, one per class of bug seen in real submissions:
  crash-on-one-word   a one-word datagram ("HELLO") raises and kills the server
  own-port            OK names the server's own port instead of the client's
  never-expires       IDs stay in use forever
  one-tcp-at-a-time   TCP connections are served one after another, in the main thread
  silent-exit         exits at the idle timeout without a word
  exit-0-on-junk      on a malformed datagram, says it timed out and exits 0
  waits-for-newline   over TCP, reads a request only up to a newline or the end of the stream
  listener-closed     over TCP, closes its listening socket for 60 s when it accepts the first
                      connection
  grants-empty-id     "HELLO " is granted as an empty ID
  any-verb            any first word is taken as HELLO
  ignores-port        listens on a port of its own (one the system picks, as a port written into
                      the program would be) instead of SERVER_PORT
Defects no fixed case reaches (`conform explore server` finds them; TESTING.md says which rule each
breaks):
  case-blind          IDs that differ only in letter case are the same ID
  prefix-8            only an ID's first 8 characters are kept: IDs sharing them are the same ID
  lowercase-echo      RESET echoes the ID in lower case
  loopback-ok         OK names 127.0.0.1 whatever address the request came from
  alnum-ids           an ID with anything but letters and digits gets no reply
  small-buffer        reads at most 40 bytes of a request, so a long ID is cut
  forgets-on-junk     a malformed request empties the list of IDs in use
And one that a fixed case catches too (server.ttl.reset-does-not-refresh):
  sliding-ttl         a RESET restarts the ID's 30 s, so it is held past its TTL
Standard library only. Over TCP a request ends at a newline, at the end of the stream, or when the
client has sent nothing more for 0.3 s.
"""
import socket
import sys
import threading
import time

ip, port, transport = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ttl, idle = float(sys.argv[4]), float(sys.argv[5])
defect = sys.argv[6] if len(sys.argv) > 6 else ""
in_use = {}
lock = threading.Lock()


def answer(message, addr, own_port):
    now = time.time()
    with lock:
        if defect != "never-expires":
            for cid in list(in_use):
                if now - in_use[cid] > ttl:
                    del in_use[cid]
        parts = message.split(" ")
        if parts[0] != "HELLO" and defect != "any-verb":
            if defect == "forgets-on-junk":
                in_use.clear()
            return None
        if defect == "crash-on-one-word":
            cid = parts[1]
        if len(parts) != 2 or not parts[1] and defect != "grants-empty-id":
            if defect == "forgets-on-junk":
                in_use.clear()
            return None
        cid = parts[1]
        if defect == "alnum-ids" and not cid.isalnum():
            return None
        key = cid.lower() if defect == "case-blind" else cid[:8] if defect == "prefix-8" else cid
        if key in in_use:
            if defect == "sliding-ttl":
                in_use[key] = now
            return "RESET " + (cid.lower() if defect == "lowercase-echo" else cid)
        in_use[key] = now
        shown = own_port if defect == "own-port" else addr[1]
        host = "127.0.0.1" if defect == "loopback-ok" else addr[0]
        return "OK %s %s %d" % (cid, host, shown)


def serve_connection(conn, addr, own_port):
    with conn:
        data = b""
        while b"\n" not in data:
            if data and defect != "waits-for-newline":
                conn.settimeout(0.3)
            try:
                chunk = conn.recv(40 - len(data) if defect == "small-buffer" else 1024)
            except socket.timeout:
                break
            if not chunk:
                break
            data += chunk
            if defect == "small-buffer" and len(data) >= 40:
                break
        message = data.split(b"\n")[0].decode(errors="replace")
        reply = answer(message, addr, own_port)
        if reply:
            conn.sendall(reply.encode() + b"\n")


kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM


def listen():
    s = socket.socket(socket.AF_INET, kind)
    if transport == "tcp":
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ip, 0 if defect == "ignores-port" else port))
    if transport == "tcp":
        s.listen(16)
    s.settimeout(idle)
    return s


s = listen()
own_port = s.getsockname()[1]
print("listening on %s %s:%d" % (transport, ip, own_port), flush=True)
while True:
    try:
        if transport == "udp":
            data, addr = s.recvfrom(40 if defect == "small-buffer" else 2048)
            reply = answer(data.decode(errors="replace"), addr, own_port)
            if reply:
                s.sendto(reply.encode(), addr)
            elif defect == "exit-0-on-junk":
                print("Server timed out", flush=True)
                break
        else:
            conn, addr = s.accept()
            conn.settimeout(None)
            if defect == "listener-closed":
                s.close()
                serve_connection(conn, addr, own_port)
                time.sleep(60)
                s = listen()
            elif defect == "one-tcp-at-a-time":
                serve_connection(conn, addr, own_port)
            else:
                threading.Thread(target=serve_connection, args=(conn, addr, own_port), daemon=True).start()
    except socket.timeout:
        if defect != "silent-exit":
            print("Server timed out", flush=True)
        break
s.close()
