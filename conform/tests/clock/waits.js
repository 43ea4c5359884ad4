#!/usr/bin/env node
// Wait SECONDS with each of a list of Node.js wait primitives and report how
// long each one took, by the monotonic and the wall clock.
//
// Usage: node waits.js SECONDS [NAME...]
//
// For every primitive (all of them, in table order, or only the NAMEs given)
// one line is printed to stdout:
//     NAME MONO_ELAPSED WALL_ELAPSED     (seconds, 3 decimals)
// or, if the primitive failed:
//     NAME error MESSAGE
// Exit status: 0 if all primitives worked, 1 if any failed, 2 on bad usage or
// an unknown primitive name.
//
// Every wait is made to time out: nothing is ever sent on the sockets.
// Sockets are bound to 127.0.0.1 port 0 (chosen by the OS).  The clocks are
// read right before and right after the wait itself (span.start()/stop()), so
// setup is not measured.  All Node timers end in libuv's event loop, whose
// only blocking call is epoll_pwait(timeout in ms) (libuv 1.4x on Linux);
// the comment on each primitive names the part of Node that sets it up.
// Node timers have millisecond resolution, so SECONDS is rounded to ms.

'use strict';

const dgram = require('node:dgram');
const fs = require('node:fs');
const net = require('node:net');
const timersPromises = require('node:timers/promises');

class Span {
  start() {
    this.mono0 = process.hrtime.bigint();
    this.wall0 = Date.now();
  }

  stop() {
    this.mono1 = process.hrtime.bigint();
    this.wall1 = Date.now();
  }
}

// Write one line to stdout right away (synchronously), so it is flushed even
// when stdout is a pipe.
function printLine(line) {
  fs.writeSync(1, line + '\n');
}

// setTimeout(ms): one libuv timer, epoll_pwait(timeout in ms)
async function wSetTimeout(ms, span) {
  span.start();
  await new Promise((resolve) => setTimeout(resolve, ms));
  span.stop();
}

// setInterval(ms), first tick only, then clearInterval: epoll_pwait(ms)
async function wSetInterval(ms, span) {
  span.start();
  await new Promise((resolve) => {
    const id = setInterval(() => {
      span.stop();
      clearInterval(id);
      resolve();
    }, ms);
  });
}

// dgram: a bound UDP socket that never receives, raced against setTimeout;
// the loop waits in epoll_pwait(ms) with the socket in the epoll set.
async function wDgram(ms, span) {
  const sock = dgram.createSocket('udp4');
  try {
    await new Promise((resolve, reject) => {
      sock.once('error', reject);
      sock.bind({ address: '127.0.0.1', port: 0 }, resolve);
    });
    await new Promise((resolve, reject) => {
      span.start();
      const timer = setTimeout(() => {
        span.stop();
        resolve();
      }, ms);
      sock.once('message', () => {
        clearTimeout(timer);
        reject(new Error('received a datagram, expected a timeout'));
      });
      sock.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  } finally {
    sock.close();
  }
}

// net: a TCP client connected to a server on 127.0.0.1:0, with
// socket.setTimeout(ms) (an idle-timeout libuv timer): epoll_pwait(ms)
async function wNet(ms, span) {
  const accepted = [];
  const server = net.createServer((conn) => accepted.push(conn));
  let client;
  try {
    await new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    const { port } = server.address();
    await new Promise((resolve, reject) => {
      client = net.connect({ host: '127.0.0.1', port }, () => {
        span.start();
        client.setTimeout(ms);
      });
      client.once('timeout', () => {
        span.stop();
        resolve();
      });
      client.once('data', () => reject(new Error('received data, expected a timeout')));
      client.once('error', reject);
    });
  } finally {
    if (client) client.destroy();
    for (const conn of accepted) conn.destroy();
    await new Promise((resolve) => server.close(() => resolve()));
  }
}

// timers/promises setTimeout(ms): one libuv timer, epoll_pwait(ms)
async function wTimersPromises(ms, span) {
  span.start();
  await timersPromises.setTimeout(ms);
  span.stop();
}

const PRIMITIVES = new Map([
  ['setTimeout', wSetTimeout],
  ['setInterval', wSetInterval],
  ['dgram', wDgram],
  ['net', wNet],
  ['timers/promises', wTimersPromises],
]);

// Run one primitive and print its line; returns true on success.
async function run(name, ms) {
  const span = new Span();
  try {
    await PRIMITIVES.get(name)(ms, span);
  } catch (e) {
    printLine(`${name} error ${e && e.message ? e.message : e}`);
    return false;
  }
  const mono = Number(span.mono1 - span.mono0) / 1e9;
  const wall = (span.wall1 - span.wall0) / 1e3;
  printLine(`${name} ${mono.toFixed(3)} ${wall.toFixed(3)}`);
  return true;
}

async function main(argv) {
  const usage = 'usage: node waits.js SECONDS [NAME...]';
  if (argv.length < 1) {
    process.stderr.write(usage + '\n');
    return 2;
  }
  const secs = Number(argv[0]);
  if (argv[0].trim() === '' || !Number.isFinite(secs) || secs < 0) {
    process.stderr.write(`${usage}: bad SECONDS '${argv[0]}'\n`);
    return 2;
  }
  const ms = Math.round(secs * 1000);

  const names = argv.length > 1 ? argv.slice(1) : [...PRIMITIVES.keys()];
  for (const name of names) { // check every name before waiting on anything
    if (!PRIMITIVES.has(name)) {
      process.stderr.write(`unknown primitive ${name}\n`);
      return 2;
    }
  }

  let ok = true;
  for (const name of names) {
    ok = (await run(name, ms)) && ok;
  }
  return ok ? 0 : 1;
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
