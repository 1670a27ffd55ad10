//! The parser fuzzers' seed corpus and every crash they ever found (`fuzz/regressions/`),
//! run through the same entry points on every test run: a parser that panics on one of
//! them fails here. `e2e/fuzz.sh` writes the seeds out for the fuzzers with
//! `SKILLDEX_FUZZ_SEEDS_DIR`.

use std::path::Path;

use skilldex::fuzzing::{TARGETS, seeds};

#[test]
fn every_parser_survives_its_seeds_and_past_crashes() {
    let seeds = seeds();
    let regressions = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    for (target, run) in TARGETS {
        let mut inputs: Vec<(String, Vec<u8>)> =
            seeds.iter().filter(|s| s.0 == *target).map(|s| (s.1.clone(), s.2.clone())).collect();
        assert!(!inputs.is_empty(), "{target} has seeds");
        for e in std::fs::read_dir(regressions.join(target)).into_iter().flatten().flatten() {
            inputs.push((e.path().display().to_string(), std::fs::read(e.path()).unwrap()));
        }
        for (name, data) in &inputs {
            let outcome = std::panic::catch_unwind(|| run(data));
            assert!(outcome.is_ok(), "{target} panicked on {name}");
        }
        if let Ok(dir) = std::env::var("SKILLDEX_FUZZ_SEEDS_DIR") {
            let dir = Path::new(&dir).join(target);
            std::fs::create_dir_all(&dir).unwrap();
            for (name, data) in &inputs {
                let file = Path::new(name).file_name().unwrap().to_string_lossy().into_owned();
                std::fs::write(dir.join(file), data).unwrap();
            }
        }
    }
}
