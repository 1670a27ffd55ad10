//! Building archives the safe writer refuses to make: links, devices, escaping paths.
//! For tests of this crate and of its users (the `test-util` feature).

use std::io::Write as _;

use flate2::{Compression, GzBuilder};

/// A ustar entry with exactly this name, type flag (`b'0'` file, `b'1'` hard link, `b'2'`
/// symlink, `b'3'`/`b'4'` devices, `b'5'` directory, `b'6'` FIFO), content and link target.
pub fn entry(name: &[u8], kind: u8, data: &[u8], link: &[u8]) -> Vec<u8> {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name);
    h[100..107].copy_from_slice(b"0000644");
    h[108..115].copy_from_slice(b"0000000");
    h[116..123].copy_from_slice(b"0000000");
    h[124..135].copy_from_slice(format!("{:011o}", data.len()).as_bytes());
    h[136..147].copy_from_slice(b"00000000000");
    h[156] = kind;
    h[157..157 + link.len()].copy_from_slice(link);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| b as u32).sum();
    h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    let mut out = h.to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out
}

/// A gzip-compressed tar of these entries, with the end-of-archive marker.
pub fn gz(entries: &[Vec<u8>]) -> Vec<u8> {
    let mut raw: Vec<u8> = entries.concat();
    raw.extend_from_slice(&[0u8; 1024]);
    let mut g = GzBuilder::new().write(Vec::new(), Compression::fast());
    g.write_all(&raw).unwrap();
    g.finish().unwrap()
}
