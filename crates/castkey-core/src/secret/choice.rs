//! Which secret store the user chose, and opening it. Castkey never picks
//! another store by itself: a keychain that cannot be reached is an error
//! that names the others.

use super::{EncryptedFileStore, KeychainStore, SecretKey, SecretStore, SecretStoreError};
use async_trait::async_trait;
use castkey_ipc::SecretStoreInfo;
use secrecy::SecretString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The environment variable scripts choose the store with (`keychain`,
/// `file` or `kernel`); `--secret-store` wins over it.
pub const SECRET_STORE_ENV: &str = "CASTKEY_SECRET_STORE";

/// The secret stores a user can choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecretStoreKind {
    /// The OS keychain (Secret Service on Linux). The default.
    #[default]
    Keychain,
    /// One file encrypted with a passphrase ([`EncryptedFileStore`]).
    EncryptedFile,
    /// The Linux kernel keyring: memory only, lost at reboot.
    KernelKeyring,
}

impl SecretStoreKind {
    /// The name on the command line and in `CASTKEY_SECRET_STORE`:
    /// `keychain`, `file` or `kernel`.
    pub fn name(self) -> &'static str {
        match self {
            SecretStoreKind::Keychain => "keychain",
            SecretStoreKind::EncryptedFile => "file",
            SecretStoreKind::KernelKeyring => "kernel",
        }
    }
}

impl fmt::Display for SecretStoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for SecretStoreKind {
    type Err = String;

    /// `keychain`, `file` or `kernel`; anything else is an error naming them.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "keychain" => Ok(SecretStoreKind::Keychain),
            "file" => Ok(SecretStoreKind::EncryptedFile),
            "kernel" => Ok(SecretStoreKind::KernelKeyring),
            other => Err(format!(
                "unknown secret store `{other}`: choose keychain (the OS keychain), file (an encrypted \
                 file) or kernel (the Linux kernel keyring)"
            )),
        }
    }
}

/// A store and how the user chose it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreChoice {
    pub kind: SecretStoreKind,
    /// For `castkey status`: `--secret-store file`, `CASTKEY_SECRET_STORE=file`
    /// or `the default`.
    pub chosen_by: String,
}

impl StoreChoice {
    /// `flag` (the value of `--secret-store`) if given, else
    /// `$CASTKEY_SECRET_STORE` if set and not empty, else the keychain.
    /// Errors name the accepted values.
    pub fn from_flag_or_env(flag: Option<&str>) -> Result<Self, String> {
        if let Some(f) = flag {
            return Ok(StoreChoice { kind: f.parse()?, chosen_by: format!("--secret-store {}", f.trim()) });
        }
        match std::env::var(SECRET_STORE_ENV).ok().filter(|v| !v.trim().is_empty()) {
            Some(v) => Ok(StoreChoice {
                kind: v.parse().map_err(|e| format!("{SECRET_STORE_ENV}: {e}"))?,
                chosen_by: format!("{SECRET_STORE_ENV}={}", v.trim()),
            }),
            None => Ok(StoreChoice::default()),
        }
    }
}

impl Default for StoreChoice {
    fn default() -> Self {
        StoreChoice { kind: SecretStoreKind::Keychain, chosen_by: "the default".into() }
    }
}

/// Where the encrypted file store's passphrase comes from. Never the
/// command line or an environment variable (both are visible to other
/// processes); a passphrase read from a source is the first line of what
/// it holds (without the line break), at most 4 KiB.
#[derive(Clone)]
pub enum Passphrase {
    /// Already in hand (asked for interactively by the caller).
    Given(SecretString),
    /// An inherited file descriptor, read to its end (`--passphrase-fd 3`
    /// with `3<file` or a pipe); read through `/dev/fd/N`.
    Fd(u32),
    /// A file that only its owner may read (mode 0600 or stricter; others
    /// are refused): `--passphrase-file`.
    File(PathBuf),
    /// A systemd credential (`LoadCredential=castkey-passphrase:…` or
    /// `SetCredentialEncrypted=`): `$CREDENTIALS_DIRECTORY/castkey-passphrase`.
    /// systemd makes that file readable by the service alone.
    SystemdCredential(PathBuf),
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Passphrase::Given(_) => f.write_str("Given(<redacted>)"),
            Passphrase::Fd(n) => write!(f, "Fd({n})"),
            Passphrase::File(p) => write!(f, "File({})", p.display()),
            Passphrase::SystemdCredential(p) => write!(f, "SystemdCredential({})", p.display()),
        }
    }
}

/// The credential name the systemd unit loads the passphrase under.
pub const SYSTEMD_CREDENTIAL: &str = "castkey-passphrase";

const MAX_PASSPHRASE_BYTES: u64 = 4096;

impl Passphrase {
    /// `$CREDENTIALS_DIRECTORY/castkey-passphrase`, if systemd passed one.
    pub fn systemd_credential() -> Option<Passphrase> {
        let dir = std::env::var_os("CREDENTIALS_DIRECTORY").filter(|d| !d.is_empty())?;
        let path = Path::new(&dir).join(SYSTEMD_CREDENTIAL);
        path.exists().then_some(Passphrase::SystemdCredential(path))
    }

    /// Reads the passphrase. Errors ([`OpenStoreError::Passphrase`]) say
    /// which source failed and why: not open, not private, empty, too long,
    /// not UTF-8.
    pub fn read(&self) -> Result<SecretString, OpenStoreError> {
        use std::io::Read;
        let (what, file) = match self {
            Passphrase::Given(p) => return Ok(p.clone()),
            Passphrase::Fd(n) => {
                let f = std::fs::File::open(format!("/dev/fd/{n}")).map_err(|e| {
                    OpenStoreError::Passphrase(format!(
                        "file descriptor {n} (--passphrase-fd) is not open for reading: {e}"
                    ))
                })?;
                (format!("file descriptor {n}"), f)
            }
            Passphrase::File(p) => {
                let f = std::fs::File::open(p).map_err(|e| {
                    OpenStoreError::Passphrase(format!(
                        "cannot read the passphrase file {}: {e}",
                        p.display()
                    ))
                })?;
                check_private(p, &f)?;
                (format!("the passphrase file {}", p.display()), f)
            }
            Passphrase::SystemdCredential(p) => {
                let f = std::fs::File::open(p).map_err(|e| {
                    OpenStoreError::Passphrase(format!(
                        "cannot read the systemd credential {}: {e}",
                        p.display()
                    ))
                })?;
                (format!("the systemd credential {}", p.display()), f)
            }
        };
        let mut bytes = zeroize::Zeroizing::new(Vec::with_capacity(MAX_PASSPHRASE_BYTES as usize + 1));
        file.take(MAX_PASSPHRASE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| OpenStoreError::Passphrase(format!("reading {what}: {e}")))?;
        if bytes.len() as u64 > MAX_PASSPHRASE_BYTES {
            return Err(OpenStoreError::Passphrase(format!(
                "{what} holds more than 4 KiB: not a passphrase"
            )));
        }
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| OpenStoreError::Passphrase(format!("{what} is not UTF-8 text")))?;
        let line = text.split(['\n', '\r']).next().unwrap_or_default();
        if line.is_empty() {
            return Err(OpenStoreError::Passphrase(format!("{what} is empty")));
        }
        Ok(SecretString::from(line))
    }
}

#[cfg(unix)]
fn check_private(path: &Path, file: &std::fs::File) -> Result<(), OpenStoreError> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = file
        .metadata()
        .map_err(|e| OpenStoreError::Passphrase(format!("cannot check {}: {e}", path.display())))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(OpenStoreError::Passphrase(format!(
            "the passphrase file {} can be read by others (mode {mode:o}): `chmod 600` it first",
            path.display()
        )));
    }
    // The owner must be this process's user (as /proc says: no libc call).
    let me = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
    if me.is_some_and(|uid| uid != meta.uid()) {
        return Err(OpenStoreError::Passphrase(format!(
            "the passphrase file {} belongs to another user",
            path.display()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_: &Path, _: &std::fs::File) -> Result<(), OpenStoreError> {
    Ok(())
}

/// Why a chosen store could not be opened. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum OpenStoreError {
    #[error("the passphrase does not open {}", .path.display())]
    WrongPassphrase { path: PathBuf },
    #[error(
        "{} is damaged: {why}. Castkey left it as it is: restore it from a backup, or move it away to \
         start with an empty store (every account then signs in again)",
        .path.display()
    )]
    Damaged { path: PathBuf, why: String },
    #[error("a new encrypted secrets file needs a passphrase that is not empty")]
    EmptyPassphrase,
    /// The passphrase could not be read from its source, or the two
    /// entries of a new one differ.
    #[error("{0}")]
    Passphrase(String),
    #[error("{}: {source}", .path.display())]
    Io { path: PathBuf, source: std::io::Error },
    /// The kernel keyring cannot be used by this process.
    #[error("{0}")]
    KernelKeyring(String),
}

/// Opens the chosen store. The keychain connects lazily (a keychain that
/// is down now works once it is up), so it never fails here; the file
/// store reads `passphrase` and decrypts `<config_dir>/secrets.enc` (or
/// creates it), and fails when no passphrase source was given; the kernel
/// keyring is tried once. Blocking (key derivation, kernel calls).
pub fn open_store(
    choice: &StoreChoice,
    config_dir: &Path,
    passphrase: Option<&Passphrase>,
) -> Result<Arc<dyn SecretStore>, OpenStoreError> {
    let inner: Arc<dyn SecretStore> = match choice.kind {
        SecretStoreKind::Keychain => Arc::new(KeychainStore::new()),
        SecretStoreKind::EncryptedFile => {
            let source = passphrase.ok_or_else(|| {
                OpenStoreError::Passphrase(
                    "the encrypted file store needs its passphrase: type it (when standard input is a \
                     terminal), or pass --passphrase-fd N, --passphrase-file PATH, or a systemd credential \
                     named castkey-passphrase"
                        .into(),
                )
            })?;
            let path = EncryptedFileStore::path_in(config_dir);
            Arc::new(EncryptedFileStore::open(&path, &source.read()?)?)
        }
        #[cfg(target_os = "linux")]
        SecretStoreKind::KernelKeyring => Arc::new(super::KernelKeyringStore::open()?),
        #[cfg(not(target_os = "linux"))]
        SecretStoreKind::KernelKeyring => {
            return Err(OpenStoreError::KernelKeyring("the kernel keyring exists on Linux only".into()))
        }
    };
    Ok(Arc::new(Chosen { inner, chosen_by: choice.chosen_by.clone() }))
}

/// A store with how it was chosen, for [`SecretStore::describe`].
#[derive(Debug)]
struct Chosen {
    inner: Arc<dyn SecretStore>,
    chosen_by: String,
}

#[async_trait]
impl SecretStore for Chosen {
    async fn get(&self, key: &SecretKey) -> Result<Option<SecretString>, SecretStoreError> {
        self.inner.get(key).await
    }

    async fn put(&self, key: &SecretKey, value: &SecretString) -> Result<(), SecretStoreError> {
        self.inner.put(key, value).await
    }

    async fn delete(&self, key: &SecretKey) -> Result<(), SecretStoreError> {
        self.inner.delete(key).await
    }

    async fn check_available(&self) -> Result<(), SecretStoreError> {
        self.inner.check_available().await
    }

    fn describe(&self) -> SecretStoreInfo {
        SecretStoreInfo { chosen_by: Some(self.chosen_by.clone()), ..self.inner.describe() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn kinds_parse_by_their_names_only() {
        for kind in
            [SecretStoreKind::Keychain, SecretStoreKind::EncryptedFile, SecretStoreKind::KernelKeyring]
        {
            assert_eq!(kind.name().parse::<SecretStoreKind>().unwrap(), kind);
        }
        let err = "plaintext".parse::<SecretStoreKind>().unwrap_err();
        assert!(err.contains("keychain") && err.contains("file") && err.contains("kernel"), "{err}");
    }

    #[test]
    fn the_flag_is_named_as_the_choice() {
        let c = StoreChoice::from_flag_or_env(Some("file")).unwrap();
        assert_eq!(
            c,
            StoreChoice { kind: SecretStoreKind::EncryptedFile, chosen_by: "--secret-store file".into() }
        );
        assert!(StoreChoice::from_flag_or_env(Some("disk")).is_err());
    }

    #[test]
    fn a_passphrase_is_the_first_line_of_a_private_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pass");
        std::fs::write(&path, "s3cret phrase\nignored\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = Passphrase::File(path.clone()).read().unwrap_err().to_string();
        assert!(err.contains("can be read by others") && err.contains("chmod 600"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(Passphrase::File(path.clone()).read().unwrap().expose_secret(), "s3cret phrase");
        std::fs::write(&path, "\n").unwrap();
        assert!(Passphrase::File(path).read().unwrap_err().to_string().contains("is empty"));
        let err = Passphrase::Fd(987).read().unwrap_err().to_string();
        assert!(err.contains("file descriptor 987"), "{err}");
        assert!(!format!("{:?}", Passphrase::Given(SecretString::from("hidden"))).contains("hidden"));
    }

    #[test]
    fn the_file_store_without_a_passphrase_says_where_one_comes_from() {
        let dir = tempfile::tempdir().unwrap();
        let choice = StoreChoice { kind: SecretStoreKind::EncryptedFile, chosen_by: "test".into() };
        let err = open_store(&choice, dir.path(), None).unwrap_err().to_string();
        assert!(err.contains("--passphrase-fd") && err.contains("castkey-passphrase"), "{err}");
        assert!(!EncryptedFileStore::path_in(dir.path()).exists());
    }

    #[test]
    fn the_keychain_chosen_says_how() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(&StoreChoice::default(), dir.path(), None).unwrap();
        let info = store.describe();
        assert_eq!((info.kind.as_str(), info.chosen_by.as_deref()), ("keychain", Some("the default")));
    }
}
