//! Secrets kept in the database (teams' OpenID client secrets) are sealed under the site's
//! secret key with AES-256-GCM: a database dump alone does not give them away. The key is
//! 32 random bytes in a file (`serve --secret-key-file`, by default `<data dir>/secret-key`,
//! created on first start); every replica of one site needs the same file. The database keeps
//! a check value of the key, so a replica started with another key refuses to start instead of
//! failing to open secrets later.

use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What a sealed value starts with (the format's version).
const PREFIX: &str = "sdx1:";

/// The site's secret key.
#[derive(Clone)]
pub struct SiteKey {
    key: [u8; 32],
}

impl std::fmt::Debug for SiteKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SiteKey(…)")
    }
}

impl SiteKey {
    /// The key in `path` (64 hex digits), created with a fresh random key (mode 0600) when
    /// `create` and the file does not exist.
    pub fn load(path: &Path, create: bool) -> anyhow::Result<SiteKey> {
        if create && !path.exists() {
            let key: [u8; 32] = rand::random();
            match write_private(path, &format!("{}\n", hex::encode(key))) {
                Ok(true) => return Ok(SiteKey { key }),
                // Another process started from the same directory made it first: use theirs.
                Ok(false) => {}
                Err(e) => return Err(e),
            }
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read the secret key file {}: {e}", path.display()))?;
        let bytes = hex::decode(text.trim())
            .ok()
            .filter(|b| b.len() == 32)
            .ok_or_else(|| anyhow::anyhow!("{} must hold 64 hex digits (32 random bytes)", path.display()))?;
        let mut key = [0u8; 32];
        key.copy_from_slice(&bytes);
        Ok(SiteKey { key })
    }

    /// A key for tests.
    pub fn random() -> SiteKey {
        SiteKey { key: rand::random() }
    }

    /// What the database records of this key: an HMAC of a fixed text, which tells keys apart
    /// and says nothing of the key.
    pub fn check_value(&self) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(b"skilldex site key check");
        hex::encode(&mac.finalize().into_bytes()[..16])
    }

    /// `plaintext`, sealed: `sdx1:` and the base64 of a fresh nonce and the ciphertext.
    pub fn seal(&self, plaintext: &str) -> String {
        use base64::Engine as _;
        let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from(self.key));
        let nonce: [u8; 12] = rand::random();
        let sealed = cipher.encrypt(&Nonce::from(nonce), plaintext.as_bytes()).expect("AES-GCM seals any text");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{PREFIX}{}", base64::engine::general_purpose::STANDARD_NO_PAD.encode(out))
    }

    /// The plaintext of a sealed value; `None` when it was not sealed by this key (or was
    /// changed).
    pub fn open(&self, sealed: &str) -> Option<String> {
        use base64::Engine as _;
        let raw = base64::engine::general_purpose::STANDARD_NO_PAD.decode(sealed.strip_prefix(PREFIX)?).ok()?;
        if raw.len() < 12 + 16 {
            return None;
        }
        let (nonce, ciphertext) = raw.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().ok()?;
        let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from(self.key));
        String::from_utf8(cipher.decrypt(&Nonce::from(nonce), ciphertext).ok()?).ok()
    }

    /// Whether a stored value is sealed (rather than an older plaintext one).
    pub fn is_sealed(value: &str) -> bool {
        value.starts_with(PREFIX)
    }
}

/// Writes a new file only its owner can read, whole or not at all (written aside, then
/// linked into place); false when the file exists already.
fn write_private(path: &Path, text: &str) -> anyhow::Result<bool> {
    use std::io::Write as _;
    let aside = path.with_extension(format!("new-{}", hex::encode(rand::random::<[u8; 6]>())));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let written = (|| -> std::io::Result<()> {
        let mut file = options.open(&aside)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()
    })();
    let linked = written.and_then(|()| std::fs::hard_link(&aside, path));
    let _ = std::fs::remove_file(&aside);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => anyhow::bail!("cannot create the secret key file {}: {e}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_unchanged() {
        let key = SiteKey::random();
        let sealed = key.seal("client-secret");
        assert!(SiteKey::is_sealed(&sealed) && !sealed.contains("client-secret"));
        assert_ne!(sealed, key.seal("client-secret"), "a fresh nonce each time");
        assert_eq!(key.open(&sealed).as_deref(), Some("client-secret"));
        assert_eq!(SiteKey::random().open(&sealed), None, "another key");
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(key.open(&String::from_utf8(tampered).unwrap()), None, "changed");
        assert_eq!(key.open("client-secret"), None, "not sealed");
        assert_ne!(key.check_value(), SiteKey::random().check_value());

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret-key");
        let made = SiteKey::load(&path, true).unwrap();
        assert_eq!(SiteKey::load(&path, true).unwrap().check_value(), made.check_value(), "created once");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        std::fs::write(&path, "short").unwrap();
        assert!(SiteKey::load(&path, false).is_err());

        // Replicas started at once from one directory end up with one key.
        let fresh = dir.path().join("raced-key");
        let checks: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> =
                (0..8).map(|_| s.spawn(|| SiteKey::load(&fresh, true).unwrap().check_value())).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(checks.iter().all(|c| *c == checks[0]), "{checks:?}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2, "nothing left aside");
    }
}
