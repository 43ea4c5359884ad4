//! Parsing and formatting messages: the per-request work besides the ID table.

use std::hint::black_box;

use connid::framing::Framer;
use connid::protocol::{parse, parse_request, ConnId, Message};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn protocol(c: &mut Criterion) {
    let mut g = c.benchmark_group("protocol");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse_request HELLO", |b| {
        b.iter(|| parse_request(black_box(b"HELLO 9876543210")))
    });
    g.bench_function("parse OK", |b| {
        b.iter(|| parse(black_box(b"OK 9876543210 192.168.0.10 12345\r\n")))
    });
    g.bench_function("parse garbage", |b| {
        b.iter(|| parse(black_box(&[0xffu8; 600][..])))
    });
    let ok = Message::Ok(
        ConnId::new("9876543210").unwrap(),
        "192.168.0.10:12345".parse().unwrap(),
    );
    g.bench_function("format OK", |b| b.iter(|| black_box(&ok).to_bytes()));
    g.bench_function("frame a TCP request ended by half-close", |b| {
        b.iter(|| {
            let mut f = Framer::new();
            f.extend(black_box(b"HELLO 9876"));
            let _ = f.next_frame();
            f.finish()
        })
    });
    g.finish();
}

criterion_group!(benches, protocol);
criterion_main!(benches);
