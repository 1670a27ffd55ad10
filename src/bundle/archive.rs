//! The tar.gz form of a bundle: reproducible writing, defensive reading.

use std::io::{self, Read, Write};

use flate2::{Compression, GzBuilder, read::GzDecoder};
use sha2::{Digest as _, Sha256};

use super::{BundleError, BundleFile, Limits, check_path, check_unique, unsafe_entry};

/// A packed bundle: the tar.gz bytes and the digest of the uncompressed tar (the OCI
/// `diff_id` of the layer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packed {
    pub tar_gz: Vec<u8>,
    /// `sha256:<hex>` of the uncompressed tar.
    pub diff_id: String,
}

/// Writes sorted entries with fixed modes, owners and times, and a gzip header without name
/// or time, so equal files always give equal bytes.
pub(super) fn pack(files: &[BundleFile], epoch: u64) -> Packed {
    let mut tar = tar::Builder::new(Vec::new());
    let mut sorted: Vec<&BundleFile> = files.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    for f in sorted {
        let mut header = tar::Header::new_ustar();
        header.set_size(f.data.len() as u64);
        header.set_mode(if f.executable { 0o755 } else { 0o644 });
        header.set_mtime(epoch);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, &f.path, f.data.as_slice()).expect("writing to memory");
    }
    let raw = tar.into_inner().expect("writing to memory");
    let diff_id = format!("sha256:{}", hex::encode(Sha256::digest(&raw)));
    let mut gz = GzBuilder::new().mtime(0).operating_system(255).write(Vec::new(), Compression::default());
    gz.write_all(&raw).expect("writing to memory");
    Packed { tar_gz: gz.finish().expect("writing to memory"), diff_id }
}

/// Counts decompressed bytes and fails once past the limit, so a gzip bomb is stopped
/// after at most `limit` bytes of work.
struct Capped<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            return Err(io::Error::other(CAP_HIT));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

const CAP_HIT: &str = "uncompressed size limit reached";

pub(super) fn unpack(bytes: &[u8], prefix: Option<&str>, limits: &Limits) -> Result<Vec<BundleFile>, BundleError> {
    if bytes.len() as u64 > limits.max_compressed {
        return Err(BundleError::TooLarge(format!("the archive is larger than {} bytes", limits.max_compressed)));
    }
    let too_big =
        || BundleError::TooLarge(format!("the archive unpacks to more than {} bytes", limits.max_uncompressed));
    let map_io = |e: io::Error| {
        if e.to_string().contains(CAP_HIT) { too_big() } else { BundleError::Corrupt(e.to_string()) }
    };
    // The tar's own framing counts against the cap too (a tar of empty files can be huge).
    let capped = Capped { inner: GzDecoder::new(bytes), left: limits.max_uncompressed + 64 * 1024 };
    let mut archive = tar::Archive::new(capped);
    let mut files = Vec::new();
    let mut total = 0u64;
    for entry in archive.entries().map_err(map_io)? {
        let mut entry = entry.map_err(map_io)?;
        let raw_path = entry.path_bytes().into_owned();
        let path = String::from_utf8(raw_path.clone())
            .map_err(|_| unsafe_entry(&String::from_utf8_lossy(&raw_path), "file names must be UTF-8"))?;
        let kind = entry.header().entry_type();
        let shown = path.clone();
        let path = normalize(&path, prefix, kind.is_dir())?;
        match kind {
            tar::EntryType::Directory | tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => continue,
            tar::EntryType::Regular => {}
            tar::EntryType::Symlink => return Err(unsafe_entry(&shown, "symlinks are not allowed in a skill")),
            tar::EntryType::Link => return Err(unsafe_entry(&shown, "hard links are not allowed in a skill")),
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                return Err(unsafe_entry(&shown, "device and FIFO entries are not allowed in a skill"));
            }
            _ => return Err(unsafe_entry(&shown, "only regular files and directories are allowed in a skill")),
        }
        let Some(path) = path else { continue };
        let size = entry.header().size().map_err(|e| BundleError::Corrupt(e.to_string()))?;
        if size > limits.max_file {
            return Err(BundleError::TooLarge(format!("{path} is larger than {} bytes", limits.max_file)));
        }
        total += size;
        if total > limits.max_uncompressed {
            return Err(too_big());
        }
        if files.len() >= limits.max_files {
            return Err(BundleError::TooLarge(format!("a skill may have at most {} files", limits.max_files)));
        }
        let mut data = Vec::with_capacity(size as usize);
        (&mut entry).take(limits.max_file + 1).read_to_end(&mut data).map_err(map_io)?;
        if data.len() as u64 != size {
            return Err(BundleError::Corrupt(format!("{path}: the entry is shorter than its header says")));
        }
        let executable = entry.header().mode().is_ok_and(|m| m & 0o111 != 0);
        files.push(BundleFile { path, data, executable });
    }
    check_unique(&files)?;
    Ok(files)
}

/// Validates an entry's path and strips `./` and the layout's prefix directory. Returns
/// `None` for entries to skip (the prefix directory itself, `.`).
fn normalize(path: &str, prefix: Option<&str>, is_dir: bool) -> Result<Option<String>, BundleError> {
    let mut p = path.strip_prefix("./").unwrap_or(path);
    if is_dir {
        p = p.trim_end_matches('/');
    }
    if p.is_empty() || p == "." {
        return Ok(None);
    }
    check_path(p)?;
    if let Some(prefix) = prefix {
        if p == prefix {
            return Ok(None);
        }
        p = p
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix('/'))
            .ok_or_else(|| unsafe_entry(path, &format!("every entry must be under `{prefix}/`")))?;
    }
    Ok(Some(p.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::Bundle;
    use crate::bundle::testing::{entry, gz};

    const SKILL: &[u8] = b"---\nname: demo\ndescription: d\n---\n";

    fn reject(archive: Vec<u8>) -> BundleError {
        Bundle::from_archive(&archive, None, &Limits::default()).expect_err("hostile archive accepted")
    }

    #[test]
    fn hostile_archives_are_refused() {
        let ok = entry(b"SKILL.md", b'0', SKILL, b"");
        assert!(Bundle::from_archive(&gz(std::slice::from_ref(&ok)), None, &Limits::default()).is_ok());
        let cases: Vec<(&str, Vec<Vec<u8>>)> = vec![
            ("absolute path", vec![ok.clone(), entry(b"/etc/cron.d/x", b'0', b"x", b"")]),
            ("dot-dot", vec![ok.clone(), entry(b"../../x", b'0', b"x", b"")]),
            ("nested dot-dot", vec![ok.clone(), entry(b"a/../../x", b'0', b"x", b"")]),
            ("symlink", vec![ok.clone(), entry(b"link", b'2', b"", b"/etc/passwd")]),
            ("hard link", vec![ok.clone(), entry(b"hard", b'1', b"", b"SKILL.md")]),
            ("char device", vec![ok.clone(), entry(b"dev", b'3', b"", b"")]),
            ("block device", vec![ok.clone(), entry(b"blk", b'4', b"", b"")]),
            ("fifo", vec![ok.clone(), entry(b"fifo", b'6', b"", b"")]),
            ("duplicate", vec![ok.clone(), entry(b"SKILL.md", b'0', SKILL, b"")]),
            ("duplicate via ./", vec![ok.clone(), entry(b"./SKILL.md", b'0', SKILL, b"")]),
            ("non-UTF-8 name", vec![ok.clone(), entry(b"caf\xe9.md", b'0', b"x", b"")]),
            ("backslash", vec![ok.clone(), entry(b"a\\..\\x", b'0', b"x", b"")]),
        ];
        for (what, entries) in cases {
            let e = reject(gz(&entries));
            assert!(matches!(e, BundleError::Unsafe { .. }), "{what}: {e:?}");
        }
        assert!(matches!(reject(b"not gzip at all".to_vec()), BundleError::Corrupt(_)));
        assert!(matches!(reject(gz(&[entry(b"README.md", b'0', b"x", b"")])), BundleError::SkillMd { .. }));
    }

    #[test]
    fn gzip_bombs_stop_at_the_limit() {
        let limits = Limits { max_uncompressed: 1024 * 1024, max_file: 8 * 1024 * 1024, ..Limits::default() };
        // 8 MiB of zeros compresses to a few KiB.
        let bomb = gz(&[entry(b"SKILL.md", b'0', SKILL, b""), entry(b"zeros", b'0', &vec![0u8; 8 << 20], b"")]);
        assert!(bomb.len() < 64 * 1024);
        let e = Bundle::from_archive(&bomb, None, &limits).unwrap_err();
        assert!(matches!(e, BundleError::TooLarge(_)), "{e:?}");
        let many: Vec<Vec<u8>> = std::iter::once(entry(b"SKILL.md", b'0', SKILL, b""))
            .chain((0..5).map(|i| entry(format!("f{i}").as_bytes(), b'0', b"x", b"")))
            .collect();
        let e = Bundle::from_archive(&gz(&many), None, &Limits { max_files: 3, ..Limits::default() }).unwrap_err();
        assert!(matches!(e, BundleError::TooLarge(_)), "{e:?}");
        let e =
            Bundle::from_archive(&gz(&many), None, &Limits { max_compressed: 10, ..Limits::default() }).unwrap_err();
        assert!(matches!(e, BundleError::TooLarge(_)), "{e:?}");
    }

    #[test]
    fn prefixed_layouts_are_unwrapped() {
        let a = gz(&[entry(b"demo/", b'5', b"", b""), entry(b"demo/SKILL.md", b'0', SKILL, b"")]);
        let b = Bundle::from_archive(&a, Some("demo"), &Limits::default()).unwrap();
        assert_eq!(b.files[0].path, "SKILL.md");
        let outside = gz(&[entry(b"demo/SKILL.md", b'0', SKILL, b""), entry(b"other.md", b'0', b"x", b"")]);
        assert!(Bundle::from_archive(&outside, Some("demo"), &Limits::default()).is_err());
    }
}
