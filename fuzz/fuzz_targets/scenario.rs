//! Arbitrary text as a scenario file: reading it gives a scenario or one error line, never a panic.
#![no_main]

use std::path::Path;

use connid_sim::scenario::Scenario;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        match Scenario::parse(text, Path::new("fuzz.toml")) {
            Ok(scenario) => {
                // A scenario that reads must write back to one that reads the same.
                let again = toml::to_string(&scenario).expect("a read scenario serializes");
                let reread = Scenario::parse(&again, Path::new("fuzz.toml")).expect("rereads");
                assert_eq!(reread, scenario);
            }
            Err(e) => assert!(!e.to_string().contains('\n'), "{e}"),
        }
    }
});
