#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| skilldex::fuzzing::npm_publish(data));
