//! Skill bundles: a directory (or tar.gz) with `SKILL.md` at its root. One set of rules,
//! used by pack, upload, register and install: limits, unsafe entries, SKILL.md parsing.
//! Reading an archive never trusts it: sizes are enforced while decompressing, and links,
//! devices, absolute or escaping paths, duplicates and non-UTF-8 names are refused.

mod archive;
mod npm;
pub mod secrets;
mod skill_md;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;

use std::collections::BTreeSet;
use std::path::Path;

use sha2::{Digest as _, Sha256};

pub use archive::Packed;
pub use npm::{PACKAGE_DIR, PACKAGE_JSON};
pub use skill_md::{Frontmatter, SkillMd, allowed_tools_of, split_allowed_tools};

/// The entry point every bundle has at its root.
pub const SKILL_MD: &str = "SKILL.md";

/// Size and count limits; the defaults are the documented ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_files: usize,
    pub max_compressed: u64,
    pub max_uncompressed: u64,
    pub max_file: u64,
    pub max_frontmatter: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_files: 1000,
            max_compressed: 50 * 1024 * 1024,
            max_uncompressed: 100 * 1024 * 1024,
            max_file: 10 * 1024 * 1024,
            max_frontmatter: 64 * 1024,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    #[error("{0}")]
    Io(String),
    /// An entry that must not be in a bundle (link, device, escaping path, …).
    #[error("{path}: {reason}")]
    Unsafe { path: String, reason: String },
    /// A limit was exceeded.
    #[error("{0}")]
    TooLarge(String),
    /// The archive itself is not a readable tar.gz.
    #[error("not a readable tar.gz archive: {0}")]
    Corrupt(String),
    #[error("{}", match line { Some(l) => format!("SKILL.md:{l}: {message}"), None => format!("SKILL.md: {message}") })]
    SkillMd { line: Option<usize>, message: String },
    #[error("SKILL.md names the skill `{found}`, but it is being published as `{expected}`")]
    NameMismatch { expected: String, found: String },
    #[error("SKILL.md says version {found}, but it is being published as {expected}")]
    VersionMismatch { expected: String, found: String },
}

fn unsafe_entry(path: &str, reason: &str) -> BundleError {
    BundleError::Unsafe { path: path.escape_debug().to_string(), reason: reason.to_owned() }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleFile {
    /// Relative, `/`-separated, normalized.
    pub path: String,
    pub data: Vec<u8>,
    pub executable: bool,
}

pub use crate::domain::entity::FileEntry;

/// A validated bundle: its files (sorted by path, `SKILL.md` among them) and its parsed SKILL.md.
#[derive(Debug, Clone, PartialEq)]
pub struct Bundle {
    pub files: Vec<BundleFile>,
    pub skill: SkillMd,
}

impl Bundle {
    /// Checks a set of files against the limits and parses SKILL.md.
    fn from_files(mut files: Vec<BundleFile>, limits: &Limits) -> Result<Self, BundleError> {
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let skill_md = files.iter().find(|f| f.path == SKILL_MD).ok_or_else(|| BundleError::SkillMd {
            line: None,
            message: "there is no SKILL.md at the bundle's root".into(),
        })?;
        let text = std::str::from_utf8(&skill_md.data)
            .map_err(|_| BundleError::SkillMd { line: None, message: "SKILL.md is not valid UTF-8".into() })?;
        let skill = SkillMd::parse(text, limits)?;
        Ok(Self { files, skill })
    }

    /// Reads a skill directory the way `pack` sees it: hidden files and directories are left
    /// out; symlinks and anything but regular files are refused.
    pub fn from_dir(dir: &Path, limits: &Limits) -> Result<Self, BundleError> {
        let meta = std::fs::metadata(dir).map_err(|e| BundleError::Io(format!("{}: {e}", dir.display())))?;
        if !meta.is_dir() {
            return Err(BundleError::Io(format!("{} is not a directory", dir.display())));
        }
        let mut files = Vec::new();
        let mut total = 0u64;
        walk(dir, "", limits, &mut files, &mut total)?;
        Self::from_files(files, limits)
    }

    /// Reads a tar.gz from an untrusted source. `prefix` strips a leading directory (the
    /// agentskills layout keeps files under `<name>/`).
    pub fn from_archive(bytes: &[u8], prefix: Option<&str>, limits: &Limits) -> Result<Self, BundleError> {
        let files = archive::unpack(bytes, prefix, limits)?;
        Self::from_files(files, limits)
    }

    pub fn name(&self) -> &str {
        self.skill.frontmatter.name.as_str()
    }

    /// Refuses a bundle whose SKILL.md disagrees with the name or version it is published as.
    pub fn check_identity(&self, name: &str, version: &semver::Version) -> Result<(), BundleError> {
        if self.name() != name {
            return Err(BundleError::NameMismatch { expected: name.to_owned(), found: self.name().to_owned() });
        }
        if let Some(v) = self.skill.frontmatter.version.as_ref().filter(|v| *v != version) {
            return Err(BundleError::VersionMismatch { expected: version.to_string(), found: v.to_string() });
        }
        Ok(())
    }

    pub fn file_tree(&self) -> Vec<FileEntry> {
        self.files
            .iter()
            .map(|f| FileEntry {
                path: f.path.clone(),
                size: f.data.len() as u64,
                sha256: hex::encode(Sha256::digest(&f.data)),
            })
            .collect()
    }

    /// The reproducible tar.gz of this bundle; `epoch` is the timestamp of every entry.
    pub fn pack(&self, epoch: u64) -> Packed {
        archive::pack(&self.files, epoch)
    }
}

/// `SOURCE_DATE_EPOCH` when set and valid, else 0: the timestamp packing uses.
pub fn source_date_epoch() -> Option<u64> {
    std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|v| v.trim().parse().ok())
}

fn walk(dir: &Path, rel: &str, limits: &Limits, out: &mut Vec<BundleFile>, total: &mut u64) -> Result<(), BundleError> {
    let io = |e: std::io::Error| BundleError::Io(format!("{}: {e}", dir.display()));
    let mut entries: Vec<_> = std::fs::read_dir(dir).map_err(io)?.collect::<Result<_, _>>().map_err(io)?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let name = name.to_str().ok_or_else(|| unsafe_entry(&name.to_string_lossy(), "file names must be UTF-8"))?;
        let path = if rel.is_empty() { name.to_owned() } else { format!("{rel}/{name}") };
        if name.starts_with('.') {
            continue;
        }
        let meta = std::fs::symlink_metadata(entry.path()).map_err(io)?;
        let kind = meta.file_type();
        if kind.is_symlink() {
            return Err(unsafe_entry(&path, "symlinks are not allowed in a skill"));
        }
        if kind.is_dir() {
            walk(&entry.path(), &path, limits, out, total)?;
            continue;
        }
        if !kind.is_file() {
            return Err(unsafe_entry(&path, "only regular files are allowed in a skill"));
        }
        check_path(&path)?;
        if meta.len() > limits.max_file {
            return Err(BundleError::TooLarge(format!("{path} is larger than {} bytes", limits.max_file)));
        }
        *total += meta.len();
        if *total > limits.max_uncompressed {
            return Err(BundleError::TooLarge(format!("the skill is larger than {} bytes", limits.max_uncompressed)));
        }
        if out.len() >= limits.max_files {
            return Err(BundleError::TooLarge(format!("a skill may have at most {} files", limits.max_files)));
        }
        use std::os::unix::fs::PermissionsExt as _;
        let data = std::fs::read(entry.path()).map_err(io)?;
        out.push(BundleFile { path, data, executable: meta.permissions().mode() & 0o111 != 0 });
    }
    Ok(())
}

/// A path is safe when it is relative, `/`-separated, without `.`/`..`/empty components.
fn check_path(path: &str) -> Result<(), BundleError> {
    if path.is_empty() {
        return Err(unsafe_entry(path, "empty path"));
    }
    if path.starts_with('/') {
        return Err(unsafe_entry(path, "absolute paths are not allowed"));
    }
    if path.contains('\\') || path.contains('\0') {
        return Err(unsafe_entry(path, "backslashes and NUL are not allowed in paths"));
    }
    for part in path.split('/') {
        match part {
            ".." => return Err(unsafe_entry(path, "`..` is not allowed in paths")),
            "" | "." => return Err(unsafe_entry(path, "paths must not contain empty or `.` components")),
            _ => {}
        }
    }
    if path.len() > 1024 {
        return Err(unsafe_entry(path, "paths must be at most 1024 bytes"));
    }
    Ok(())
}

/// Rejects duplicate paths, which would make extraction order decide the content.
fn check_unique(files: &[BundleFile]) -> Result<(), BundleError> {
    let mut seen = BTreeSet::new();
    for f in files {
        if !seen.insert(f.path.as_str()) {
            return Err(unsafe_entry(&f.path, "the archive contains this path twice"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, content: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    fn skill_dir() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "SKILL.md", "---\nname: demo\ndescription: A demo skill\nversion: 1.0.0\n---\n# Demo\n");
        write(d.path(), "examples/basic.md", "example\n");
        write(d.path(), ".git/config", "ignored\n");
        write(d.path(), ".hidden", "ignored\n");
        d
    }

    #[test]
    fn directories_pack_reproducibly_and_round_trip() {
        let d = skill_dir();
        let a = Bundle::from_dir(d.path(), &Limits::default()).unwrap();
        let paths: Vec<&str> = a.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["SKILL.md", "examples/basic.md"], "hidden files are left out");
        let p1 = a.pack(0);
        // Touching files changes nothing: timestamps and owners are not packed.
        std::thread::sleep(std::time::Duration::from_millis(10));
        write(d.path(), "examples/basic.md", "example\n");
        let p2 = Bundle::from_dir(d.path(), &Limits::default()).unwrap().pack(0);
        assert_eq!(p1.tar_gz, p2.tar_gz);
        assert_ne!(a.pack(1_700_000_000).tar_gz, p1.tar_gz, "SOURCE_DATE_EPOCH changes entry times");
        let back = Bundle::from_archive(&p1.tar_gz, None, &Limits::default()).unwrap();
        assert_eq!(back.files, a.files);
        assert_eq!(back.file_tree()[1].size, 8);
    }

    #[test]
    fn symlinks_in_directories_are_refused() {
        let d = skill_dir();
        std::os::unix::fs::symlink("/etc/passwd", d.path().join("passwd")).unwrap();
        let e = Bundle::from_dir(d.path(), &Limits::default()).unwrap_err();
        assert!(matches!(e, BundleError::Unsafe { .. }), "{e}");
    }

    #[test]
    fn identity_must_match() {
        let b = Bundle::from_dir(skill_dir().path(), &Limits::default()).unwrap();
        assert!(b.check_identity("demo", &"1.0.0".parse().unwrap()).is_ok());
        assert!(matches!(b.check_identity("other", &"1.0.0".parse().unwrap()), Err(BundleError::NameMismatch { .. })));
        assert!(matches!(
            b.check_identity("demo", &"2.0.0".parse().unwrap()),
            Err(BundleError::VersionMismatch { .. })
        ));
    }

    #[test]
    fn unsafe_paths() {
        for bad in ["/etc/x", "../x", "a/../../x", "a//b", "./a", "a\\b", ""] {
            assert!(check_path(bad).is_err(), "{bad:?}");
        }
        assert!(check_path("a/b/c.md").is_ok());
    }
}
