//! The UDP loop: takes requests a batch at a time, decides and logs each, sends the replies in one
//! batch, and removes expired IDs when there is nothing to receive.

use tokio::time::Instant;

use super::{next_expiry, sleep_until_some, Core};
use crate::clock::Clock;
use crate::console::Console;
use crate::lines::ServerNote;
use crate::net::{send_all, RecvBatch, SendBatch, UdpSocket, BATCH};
use crate::protocol;

/// Serves `socket` until the idle deadline passes.
pub(super) async fn serve<S: UdpSocket, C: Clock, K: Console>(
    socket: &S,
    core: &mut Core<'_, C, K>,
) {
    let mut requests = RecvBatch::new();
    let mut replies = SendBatch::new();
    let mut parsed = Vec::with_capacity(BATCH);
    let mut reply = String::new();
    let clock = core.log.clock();
    loop {
        // Take what is already waiting without a wake-up; only when nothing is, write out the log
        // lines held so far and wait for a request, the end of a second with unlogged drops or
        // refused IDs to sum up, or the next expiry (expired IDs are removed a slice at a time, looking at the socket
        // in between).
        let received = match socket.try_recv_batch(&mut requests) {
            Ok(()) if requests.is_empty() => {
                core.log.flush();
                let summary = core.log.summary_due();
                tokio::select! {
                    biased;
                    () = clock.sleep_until(core.idle_deadline) => return,
                    received = socket.recv_batch(&mut requests) => received,
                    () = sleep_until_some(clock, summary) => {
                        core.log.flush_due(Instant::now());
                        continue;
                    }
                    () = next_expiry(clock, &core.table) => {
                        core.table.tidy(Instant::now().into_std());
                        continue;
                    }
                }
            }
            other => other,
        };
        if let Err(e) = received {
            // Some systems report an earlier ICMP error here; the socket itself is fine.
            let at = core.log.now();
            core.log.note(&ServerNote::ReceiveError {
                at,
                why: e.to_string(),
            });
            continue;
        }
        // The requests of one batch arrived together: one clock reading serves them all.
        let now = Instant::now();
        core.activity(now);
        core.log.stamp();
        // Parse the whole batch and look its IDs up in the table before deciding any: their cache
        // misses then overlap instead of coming one after another.
        parsed.extend(
            requests
                .iter()
                .map(|(bytes, _)| protocol::parse_request(bytes)),
        );
        core.table
            .prefetch(parsed.iter().filter_map(|id| id.as_ref().ok()));
        replies.clear();
        for ((bytes, peer), parsed) in requests.iter().zip(parsed.drain(..)) {
            if core.answer(parsed, bytes, peer, now, &mut reply) {
                replies.push(peer, reply.as_bytes());
            }
        }
        send_all(socket, &replies, |outcome| {
            if let Err((failed, e)) = outcome {
                core.log.not_sent(replies.get(failed).1, &e);
            }
        })
        .await;
    }
}
