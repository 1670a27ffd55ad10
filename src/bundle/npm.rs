//! The npm package form of a bundle: the same files under `package/`, with a `package.json`
//! beside them, as `npm pack` lays a package out and `npm install` unpacks it.
//!
//! A bundle's own root `package.json` is npm's packaging metadata, not skill content: it is
//! dropped when an npm tarball is read and replaced by the one given when a tarball is made.

use super::{Bundle, BundleError, BundleFile, Limits, archive};

/// The directory every entry of an npm tarball sits in.
pub const PACKAGE_DIR: &str = "package";

/// `package.json`, the file npm reads from a package's root.
pub const PACKAGE_JSON: &str = "package.json";

/// The timestamp `npm pack` gives every entry (1985-10-26T08:15:00Z), so tarballs compare
/// equal across machines; used here for the same reason.
const NPM_EPOCH: u64 = 499_162_500;

impl Bundle {
    /// The reproducible npm tarball of this bundle: `package/package.json` (`package_json`)
    /// and every file of the bundle but a root `package.json` under `package/`.
    pub fn npm_tarball(&self, package_json: &[u8]) -> Vec<u8> {
        let files: Vec<BundleFile> = std::iter::once(BundleFile {
            path: format!("{PACKAGE_DIR}/{PACKAGE_JSON}"),
            data: package_json.to_vec(),
            executable: false,
        })
        .chain(self.files.iter().filter(|f| f.path != PACKAGE_JSON).map(|f| BundleFile {
            path: format!("{PACKAGE_DIR}/{}", f.path),
            data: f.data.clone(),
            executable: f.executable,
        }))
        .collect();
        archive::pack(&files, NPM_EPOCH).tar_gz
    }

    /// Reads an npm tarball from an untrusted source with the bundle rules: every entry must
    /// sit under `package/`. Returns the bundle (without `package.json`) and the
    /// `package.json` bytes, which a tarball must have.
    pub fn from_npm_tarball(bytes: &[u8], limits: &Limits) -> Result<(Self, Vec<u8>), BundleError> {
        let mut files = archive::unpack(bytes, Some(PACKAGE_DIR), limits)?;
        let at = files.iter().position(|f| f.path == PACKAGE_JSON).ok_or_else(|| {
            BundleError::Corrupt(format!("an npm package has a {PACKAGE_DIR}/{PACKAGE_JSON}; this one has none"))
        })?;
        let package_json = files.remove(at).data;
        Ok((Self::from_files(files, limits)?, package_json))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::testing::{entry, gz};

    const SKILL: &[u8] = b"---\nname: demo\ndescription: d\n---\nbody\n";

    fn bundle(files: &[(&str, &[u8])]) -> Bundle {
        let entries: Vec<Vec<u8>> = files.iter().map(|(p, d)| entry(p.as_bytes(), b'0', d, b"")).collect();
        Bundle::from_archive(&gz(&entries), None, &Limits::default()).unwrap()
    }

    #[test]
    fn tarballs_round_trip_and_are_reproducible() {
        let b = bundle(&[("SKILL.md", SKILL), ("scripts/run.sh", b"echo hi\n"), ("package.json", b"{\"old\":1}")]);
        let tgz = b.npm_tarball(br#"{"name":"@team/demo","version":"1.0.0"}"#);
        assert_eq!(tgz, b.npm_tarball(br#"{"name":"@team/demo","version":"1.0.0"}"#), "same input, same bytes");
        let (back, pj) = Bundle::from_npm_tarball(&tgz, &Limits::default()).unwrap();
        assert_eq!(pj, br#"{"name":"@team/demo","version":"1.0.0"}"#, "the given package.json replaces the bundle's");
        let paths: Vec<&str> = back.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["SKILL.md", "scripts/run.sh"]);
        assert_eq!(back.skill, b.skill);
    }

    #[test]
    fn tarballs_without_package_layout_are_refused() {
        let flat = gz(&[entry(b"package.json", b'0', b"{}", b""), entry(b"SKILL.md", b'0', SKILL, b"")]);
        let e = Bundle::from_npm_tarball(&flat, &Limits::default()).unwrap_err();
        assert!(e.to_string().contains("under `package/`"), "{e}");
        let no_manifest = gz(&[entry(b"package/SKILL.md", b'0', SKILL, b"")]);
        let e = Bundle::from_npm_tarball(&no_manifest, &Limits::default()).unwrap_err();
        assert!(e.to_string().contains("package/package.json"), "{e}");
        let no_skill = gz(&[entry(b"package/package.json", b'0', b"{}", b"")]);
        assert!(matches!(Bundle::from_npm_tarball(&no_skill, &Limits::default()), Err(BundleError::SkillMd { .. })));
        let escape = gz(&[
            entry(b"package/package.json", b'0', b"{}", b""),
            entry(b"package/SKILL.md", b'0', SKILL, b""),
            entry(b"package/../../etc/x", b'0', b"x", b""),
        ]);
        assert!(matches!(Bundle::from_npm_tarball(&escape, &Limits::default()), Err(BundleError::Unsafe { .. })));
    }
}
