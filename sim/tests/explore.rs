//! A bounded exploration as a regression check: a fixed range of seeds, both transports, every rule.

use connid::Transport;
use connid_sim::explore::{self, Config};

#[test]
fn a_fixed_range_of_seeds_keeps_every_rule_on_both_transports() {
    let cfg = Config {
        from: 0,
        seeds: 300,
        transports: vec![Transport::Udp, Transport::Tcp],
        jobs: std::thread::available_parallelism().map_or(2, |n| n.get()),
        shard: (1, 1),
        determinism_every: 10,
        save: None,
    };
    let summary = explore::explore(&cfg, |_| {});
    let reports: Vec<String> = summary.failures.iter().map(explore::report).collect();
    assert!(reports.is_empty(), "{}", reports.join("\n"));
    assert_eq!(summary.runs, 600);
    // The generator really injects trouble: every kind of fault, and lost messages.
    for kind in [
        "crash",
        "hold",
        "loss",
        "partition",
        "release",
        "repair",
        "restart",
    ] {
        assert!(
            summary.faults.get(kind).copied().unwrap_or(0) > 20,
            "{kind}: {:?}",
            summary.faults
        );
    }
    assert!(summary.lost > 100, "{}", summary.lost);
}
