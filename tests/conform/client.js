/**
 * A classic-style client for checking `conform` itself: a Node.js port of client.py as it is with
 * no DEFECT named (the correct client).
 *
 * Usage: node client.js HELLO SERVER_IP SERVER_PORT CONNECTION_ID udp|tcp TIMEOUT
 * Node 18+, standard library only (dgram, net, readline). Replies for another ID, malformed replies
 * and (UDP) datagrams from another address than the server's are ignored until the timeout. Each
 * try is on a new socket (TCP: a new connection, the request sent without a line ending, then the
 * sending side shut); a RESET for its ID, or the server closing the connection, ends a try. After a
 * Connection Error with tries left it asks for a new ID; at the end of input it gives up, as
 * client.py does on EOFError.
 */
'use strict';
const dgram = require('dgram');
const net = require('net');
const readline = require('readline');

const [verb, ip, portText, firstId, transport, timeoutText] = process.argv.slice(2, 8);
const port = parseInt(portText, 10);
const timeout = parseFloat(timeoutText);
const TRIES = 3;

// Python's str.split() with no argument: runs of whitespace (as str.isspace() has it) separate.
const SPACE = /[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/;
const fields = (buf) => buf.toString('utf8').split(SPACE).filter((f) => f !== '');
const strip = (text) => text.replace(new RegExp(`^(${SPACE.source})|(${SPACE.source})$`, 'g'), '');

// Local time as datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f") prints it (Date has milliseconds).
function now() {
  const d = new Date();
  const p = (n, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds() * 1000, 6)}`;
}

function say(line) {
  process.stdout.write(line + '\n');
}

function matches(parts, cid) {
  return ((parts.length === 4 && parts[0] === 'OK') || (parts.length === 2 && parts[0] === 'RESET')) &&
    parts[1] === cid;
}

/** One try on a new socket: calls done(parts) with the matching reply's fields, or done(null). */
function attempt(cid, done) {
  const request = Buffer.from(`${verb} ${cid}`);
  let sock = null;
  let over = false;
  const finish = (parts) => {
    if (over) return;
    over = true;
    clearTimeout(timer);
    try {
      if (transport === 'udp') sock.close();
      else sock.destroy();
    } catch (e) { /* already closed */ }
    done(parts);
  };
  const timer = setTimeout(() => finish(null), timeout * 1000);
  if (transport === 'udp') {
    sock = dgram.createSocket('udp4');
    sock.on('error', () => finish(null));
    sock.on('message', (data, source) => {
      if (source.address !== ip || source.port !== port) return;
      const parts = fields(data);
      if (matches(parts, cid)) finish(parts);
    });
    sock.send(request, port, ip, (err) => { if (err) finish(null); });
    return;
  }
  let pending = Buffer.alloc(0);
  sock = net.createConnection({ host: ip, port, allowHalfOpen: true });
  sock.on('error', () => finish(null));
  sock.on('connect', () => sock.end(request));  // sendall, then shutdown(SHUT_WR)
  sock.on('data', (data) => {
    pending = Buffer.concat([pending, data]);
    let nl;
    while (!over && (nl = pending.indexOf(10)) !== -1) {
      const parts = fields(pending.subarray(0, nl));
      pending = pending.subarray(nl + 1);
      if (matches(parts, cid)) finish(parts);
    }
  });
  sock.on('end', () => {  // the server closed: what is left is the last line, then the try ends
    const parts = fields(pending);
    finish(matches(parts, cid) ? parts : null);
  });
  sock.on('close', () => finish(null));
}

// One interface for the whole run. Lines typed before the question is asked wait in `early`, as
// they would in the buffer Python's input() reads from.
const rl = readline.createInterface({ input: process.stdin, output: process.stdout, terminal: false });
const early = [];
let closed = false;
let onClose = null;
rl.on('line', (line) => early.push(line));
rl.on('close', () => {
  closed = true;
  if (onClose) onClose();
});

/** input(prompt): calls answer(line), or answer(null) at the end of input (EOFError). */
function ask(prompt, answer) {
  if (early.length > 0) {
    process.stdout.write(prompt);
    answer(early.shift());
  } else if (closed) {
    process.stdout.write(prompt);
    answer(null);
  } else {
    onClose = () => { onClose = null; answer(null); };
    rl.question(prompt, (line) => { onClose = null; answer(line); });
  }
}

function end(code) {
  rl.close();
  process.stdin.destroy();
  process.stdout.write('', () => process.exit(code));
}

function failure() {
  say(`Connection Failure on ${now()}`);
  end(0);
}

let tries = 0;
function tryWith(cid) {
  attempt(cid, (parts) => {
    tries += 1;
    if (parts && parts[0] === 'OK') {
      say(`Connection established ${parts[1]} ${parts[2]} ${parts[3]} on ${now()}`);
      end(0);
      return;
    }
    say(`Connection Error ${cid} on ${now()}`);
    if (tries >= TRIES) {
      failure();
      return;
    }
    ask('Enter a new connection ID: ', (line) => {
      if (line === null) failure();
      else tryWith(strip(line));
    });
  });
}

tryWith(firstId);
