//! A bounded exploration as a regression check: a fixed range of seeds, both transports, every rule.

use std::time::Duration;

use connid::Transport;
use connid_sim::explore::{self, Config};
use connid_sim::scenario::{Dur, TimeMode};
use connid_sim::{generate, runner, transcript};

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

/// Event mode jumps over idle time; fixed mode steps every tick. Over generated scenarios (faults,
/// loss, latency, raw peers) both must tell the same story, byte for byte. Fixed mode pays for every
/// tick of a run's minutes, so these seeds run at a 10 ms tick (the generator's coarsest), except every
/// tenth, which keeps its own.
#[test]
fn generated_scenarios_give_the_same_transcript_in_event_and_fixed_mode() {
    let mut jumped = 0;
    for seed in 0..100 {
        for t in [Transport::Udp, Transport::Tcp] {
            let mut event = generate::scenario(seed, t);
            if seed % 10 != 0 {
                event.network.tick = Dur(Duration::from_millis(10));
            }
            let mut fixed = event.clone();
            fixed.network.mode = TimeMode::Fixed;
            let tell = |s| {
                let run = runner::run(s, t).unwrap_or_else(|e| panic!("seed {seed} {t:?}: {e}"));
                (transcript::text("seed", "", &run), run.steps)
            };
            let ((by_event, event_steps), (by_tick, tick_steps)) = (tell(&event), tell(&fixed));
            assert_eq!(by_event, by_tick, "seed {seed} over {t:?}");
            jumped += u32::from(event_steps < tick_steps);
        }
    }
    // Every run has idle time to jump over: at least the server's wait for its idle exit.
    assert_eq!(jumped, 200, "runs that jumped over idle time");
}

/// The eight seeds of a million that once broke `answered-after-healing` (issue 27): each heals at an
/// instant off its tick, just as a fresh client starts, and the heal used to wait for the next tick.
/// A fault now happens at its exact time; every rule holds, and fixed mode (which cuts its step at
/// the fault too) tells the same story.
#[test]
fn faults_off_the_tick_happen_at_their_exact_time() {
    let seeds = [
        3_049_295, 3_130_636, 3_152_414, 3_532_143, 3_593_296, 3_668_956, 3_768_608, 3_805_261,
    ];
    let mut off_the_tick = 0;
    for seed in seeds {
        let t = Transport::Udp;
        let result = explore::check_seed(seed, t, false);
        let broken: Vec<&str> = result.violations.iter().map(|v| v.rule).collect();
        assert!(broken.is_empty(), "seed {seed}: {broken:?}");

        let event = generate::scenario(seed, t);
        let tick = event.network.tick.0.as_nanos();
        off_the_tick += usize::from(event.faults.iter().any(|f| f.at.0.as_nanos() % tick != 0));
        let mut fixed = event.clone();
        fixed.network.mode = TimeMode::Fixed;
        let (by_event, by_tick) = (
            runner::run(&event, t).unwrap(),
            runner::run(&fixed, t).unwrap(),
        );
        let asked = event.timeline().last().map(|f| f.at.0);
        assert_eq!(by_event.healed_at(), asked, "seed {seed}: the heal's time");
        assert_eq!(
            by_tick.healed_at(),
            asked,
            "seed {seed}: the heal's time, fixed mode"
        );
        let tell = |run| transcript::text("seed", "", run);
        assert_eq!(tell(&by_event), tell(&by_tick), "seed {seed}");
    }
    assert_eq!(
        off_the_tick,
        seeds.len(),
        "seeds whose faults fall off the tick"
    );
}
