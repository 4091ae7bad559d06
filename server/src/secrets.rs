//! The two shared secrets: the admin token (for approving, rejecting, …) and the producer secret
//! (for activating topics).
//!
//! Either comes from configuration or, when unset, is generated at first start (256 random bits)
//! and kept in the data directory with mode 0600, so that a restart keeps it and a local producer
//! can read it. A [`Secret`] never prints its value (not in `Debug`, not in logs) and is compared
//! in constant time.

use std::{
    fmt, fs, io,
    path::{Path, PathBuf},
};
use subtle::ConstantTimeEq;

/// A secret set in the environment variable `name` (unset or empty: none). Secrets come from
/// the environment or files, never from flags, which every user of the machine sees in `ps`.
pub fn from_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// What every personal access token starts with (so a leaked one is easy to recognise).
pub const TOKEN_PREFIX: &str = "shp_";

/// The hash a personal access token is kept and looked up by: SHA-256, enough for a long random
/// token (nothing to guess, so no slow hash is needed).
pub fn token_hash(token: &str) -> String {
    use sha2::{Digest, Sha256};
    hex(&Sha256::digest(token.as_bytes()))
}

/// Lower-case hexadecimal, two digits a byte: how generated secrets, session ids and MACs are
/// written.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

/// A secret string that does not leak through formatting and compares in constant time.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value taken from configuration.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// 32 random bytes from the OS, hex-encoded.
    pub fn generate() -> Result<Self, SecretError> {
        let mut bytes = [0_u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| SecretError::Random(e.to_string()))?;
        Ok(Self(hex(&bytes)))
    }

    /// Whether `candidate` is this secret, in time independent of where they differ.
    pub fn matches(&self, candidate: &str) -> bool {
        // `ct_eq` on slices of different lengths is false without comparing contents; the length
        // of a 64-hex-digit token is no secret.
        self.0.as_bytes().ct_eq(candidate.as_bytes()).into()
    }

    /// The value itself, for the few places that must send it (the producer's header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Why a secret could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read or write secret file {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("secret file {0} is empty")]
    Empty(PathBuf),
    #[error("the operating system's random source failed: {0}")]
    Random(String),
    /// A configured secret too short to resist guessing (the generated ones are far longer).
    #[error("a configured secret must be at least {MIN_CONFIGURED_LEN} characters long (unset it to have one generated)")]
    TooShort,
}

/// Fewest characters of a configured secret: guessing one of 16 random characters is out of
/// reach, and anything shorter is likely a placeholder such as `admin`.
pub const MIN_CONFIGURED_LEN: usize = 16;

/// Where a secret came from, so that start-up can say so (without the value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// From a flag or environment variable.
    Configured,
    /// Read from this file, written by an earlier start.
    File(PathBuf),
    /// Generated now and saved to this file.
    Generated(PathBuf),
}

/// Returns the configured value, or the one saved at `path`, or a new one saved there (0600).
pub fn load_or_generate(
    configured: Option<&str>,
    path: &Path,
) -> Result<(Secret, SecretSource), SecretError> {
    if let Some(value) = configured.filter(|v| !v.is_empty()) {
        if value.chars().count() < MIN_CONFIGURED_LEN {
            return Err(SecretError::TooShort);
        }
        return Ok((Secret::new(value), SecretSource::Configured));
    }
    match read_file(path) {
        Ok(secret) => Ok((secret, SecretSource::File(path.to_owned()))),
        Err(SecretError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            let secret = Secret::generate()?;
            write_private(path, secret.expose(), Existing::Refuse).map_err(|source| {
                SecretError::Io {
                    path: path.to_owned(),
                    source,
                }
            })?;
            Ok((secret, SecretSource::Generated(path.to_owned())))
        }
        Err(e) => Err(e),
    }
}

/// Reads a secret saved by the server (the producer's way to find it on the same machine).
pub fn read_file(path: &Path) -> Result<Secret, SecretError> {
    let text = fs::read_to_string(path).map_err(|source| SecretError::Io {
        path: path.to_owned(),
        source,
    })?;
    let value = text.trim();
    if value.is_empty() {
        return Err(SecretError::Empty(path.to_owned()));
    }
    Ok(Secret::new(value))
}

/// What [`write_private`] does with a file already at its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Fail (a generated secret never replaces one a process may already use).
    Refuse,
    /// Replace it, and make it private if it was not.
    Replace,
}

/// Writes `value` and a newline to `path`, readable and writable by its owner alone (0600 from
/// the start: never readable by others, not even for a moment), creating its directory.
pub fn write_private(path: &Path, value: &str, existing: Existing) -> io::Result<()> {
    use std::io::Write;
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    let mut options = fs::OpenOptions::new();
    options.write(true);
    match existing {
        Existing::Refuse => options.create_new(true),
        Existing::Replace => options.create(true).truncate(true),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    // A file replaced keeps its old mode through `open`: set it again.
    #[cfg(unix)]
    if existing == Existing::Replace {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(value.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

/// Makes `dir` (created if missing) and the files already in it its owner's alone: the data
/// directory holds the secrets and the database, which nobody else on the machine may read. A
/// directory or file that others could read or enter is tightened, and that is said.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Only the group's and others' bits go; a mode that cannot be changed (files of
        // another owner, some mounted volumes) is said, not fatal.
        let tighten = |path: &Path| {
            let Ok(meta) = fs::metadata(path) else { return };
            let current = meta.permissions().mode() & 0o7777;
            if current & 0o077 == 0 {
                return;
            }
            let private = current & !0o077;
            match fs::set_permissions(path, fs::Permissions::from_mode(private)) {
                Ok(()) => {
                    tracing::info!(path = %path.display(), from = format!("{current:o}"), to = format!("{private:o}"), "made private")
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "others may read this file of the data directory: make it private")
                }
            }
        };
        tighten(dir);
        for entry in fs::read_dir(dir)?.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_file()) {
                tighten(&entry.path());
            }
        }
    }
    Ok(())
}

/// Both secrets of a server.
#[derive(Clone, Debug)]
pub struct ServerSecrets {
    pub admin_token: Secret,
    pub producer_secret: Secret,
}

/// The file names under the data directory.
pub const ADMIN_TOKEN_FILE: &str = "admin_token";
/// See [`ADMIN_TOKEN_FILE`].
pub const PRODUCER_SECRET_FILE: &str = "producer_secret";

#[cfg(test)]
mod tests {
    #[cfg(unix)]
    #[test]
    fn the_data_directory_and_its_files_are_made_private() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let db = dir.join("streamhub.db");
        std::fs::write(&db, b"x").unwrap();
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
        super::private_dir(&dir).unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode(&dir), mode(&db)), (0o700, 0o600));
        let fresh = tmp.path().join("fresh");
        super::private_dir(&fresh).unwrap();
        assert_eq!(mode(&fresh), 0o700);
    }

    use super::*;

    #[test]
    fn generated_secret_is_saved_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("admin_token");
        let (first, source) = load_or_generate(None, &path).unwrap();
        assert_eq!(source, SecretSource::Generated(path.clone()));
        assert_eq!(first.expose().len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (second, source) = load_or_generate(None, &path).unwrap();
        assert_eq!(source, SecretSource::File(path.clone()));
        assert!(second.matches(first.expose()));
    }

    #[test]
    fn configured_value_wins_and_empty_counts_as_unset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        let given = "given-secret-0123456789";
        let (s, source) = load_or_generate(Some(given), &path).unwrap();
        assert_eq!(source, SecretSource::Configured);
        assert!(s.matches(given));
        assert!(!path.exists());
        // A short one is refused rather than run with.
        assert!(matches!(
            load_or_generate(Some("admin"), &path),
            Err(SecretError::TooShort)
        ));
        let (_, source) = load_or_generate(Some(""), &path).unwrap();
        assert!(matches!(source, SecretSource::Generated(_)));
    }

    #[test]
    fn matching_is_exact_and_debug_hides_the_value() {
        let s = Secret::new("abc123");
        assert!(s.matches("abc123"));
        assert!(!s.matches("abc12"));
        assert!(!s.matches("abc1234"));
        assert!(!s.matches(""));
        assert!(!format!("{s:?}").contains("abc"));
    }
}
