//! The ID table with 1,000 / 100,000 / 1,000,000 live IDs: the cost of a request must not grow with
//! the table. A bare `HashSet<u64>` at the same sizes shows the floor set by the memory hierarchy.

use std::hint::black_box;
use std::time::{Duration, Instant};

use connid::protocol::ConnId;
use connid::registry::{Decision, Registry};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const STEP: Duration = Duration::from_micros(1);

/// A table holding `live` IDs, granted one microsecond apart, whose TTL makes each new grant expire
/// exactly one old ID: the table stays at `live` however long the benchmark runs.
fn steady(live: u64) -> (Registry, Instant, u64) {
    let t0 = Instant::now();
    let mut r = Registry::new(STEP * u32::try_from(live - 1).unwrap());
    let mut now = t0;
    for i in 0..live {
        assert_eq!(
            r.request(&ConnId::new(&i.to_string()).unwrap(), now),
            Decision::Granted
        );
        now += STEP;
    }
    (r, now, live)
}

fn registry(c: &mut Criterion) {
    let mut g = c.benchmark_group("registry");
    g.throughput(Throughput::Elements(1));
    for live in [1_000u64, 100_000, 1_000_000] {
        let ids: Vec<ConnId> = (0..1_000_000u64)
            .map(|i| ConnId::new(&format!("new-{i}")).unwrap())
            .collect();
        g.bench_with_input(
            BenchmarkId::new("grant and expire one", live),
            &live,
            |b, &live| {
                let (mut r, mut now, _) = steady(live);
                let mut i = 0;
                b.iter(|| {
                    let d = r.request(&ids[i % ids.len()], now);
                    now += STEP;
                    i += 1;
                    d
                });
                assert!(r.len() as u64 <= live);
            },
        );
        g.bench_with_input(
            BenchmarkId::new("reset an ID in use", live),
            &live,
            |b, &live| {
                let (mut r, now, _) = steady(live);
                let held = ConnId::new(&(live - 1).to_string()).unwrap();
                b.iter(|| r.request(black_box(&held), now));
            },
        );
        // The floor under the table: a bare std HashSet of numbers, inserting one and removing the
        // oldest, at the same size. If this grows with the size too, the growth is the memory
        // hierarchy (a big table does not fit in cache), not the registry's algorithm.
        g.bench_with_input(
            BenchmarkId::new("reference: HashSet<u64> insert one, remove one", live),
            &live,
            |b, &live| {
                let mut set: std::collections::HashSet<u64> = (0..live).map(scatter).collect();
                let mut oldest = 0;
                b.iter(|| {
                    set.insert(scatter(oldest + live));
                    set.remove(&scatter(oldest));
                    oldest += 1;
                });
                assert_eq!(set.len() as u64, live);
            },
        );
    }
    g.finish();
}

/// Spreads consecutive numbers over the key space, as unrelated IDs would be.
fn scatter(i: u64) -> u64 {
    i.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

criterion_group!(benches, registry);
criterion_main!(benches);
