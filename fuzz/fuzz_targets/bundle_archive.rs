#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| skilldex::fuzzing::bundle_archive(data));
