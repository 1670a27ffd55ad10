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

/// Archives the bundle rules refuse, as `skill demo`, with the status each must get.
pub fn hostile_corpus() -> Vec<(&'static str, Vec<u8>, u16)> {
    let ok = entry(b"SKILL.md", b'0', b"---\nname: demo\ndescription: d\n---\n", b"");
    let with = |extra: Vec<u8>| gz(&[ok.clone(), extra]);
    vec![
        ("absolute path", with(entry(b"/etc/x", b'0', b"x", b"")), 422),
        ("dot-dot", with(entry(b"../x", b'0', b"x", b"")), 422),
        ("nested dot-dot", with(entry(b"a/../../x", b'0', b"x", b"")), 422),
        ("symlink", with(entry(b"l", b'2', b"", b"/etc/passwd")), 422),
        ("hard link", with(entry(b"h", b'1', b"", b"SKILL.md")), 422),
        ("device", with(entry(b"d", b'3', b"", b"")), 422),
        ("fifo", with(entry(b"f", b'6', b"", b"")), 422),
        ("duplicate", gz(&[ok.clone(), ok.clone()]), 422),
        ("non-UTF-8 name", with(entry(b"\xff.md", b'0', b"x", b"")), 422),
        ("gzip bomb", with(entry(b"zeros", b'0', &vec![0u8; 11 << 20], b"")), 413),
        ("no SKILL.md", gz(&[entry(b"README.md", b'0', b"x", b"")]), 422),
        ("unparsable SKILL.md", gz(&[entry(b"SKILL.md", b'0', b"---\nname: [\n---\n", b"")]), 422),
        ("name mismatch", gz(&[entry(b"SKILL.md", b'0', b"---\nname: other\ndescription: d\n---\n", b"")]), 422),
        (
            "version mismatch",
            gz(&[entry(b"SKILL.md", b'0', b"---\nname: demo\ndescription: d\nversion: 9.9.9\n---\n", b"")]),
            422,
        ),
        ("not gzip", b"plain text".to_vec(), 422),
    ]
}
