//! [`EncryptedFileStore`]: every secret in one encrypted file, for machines
//! without a keychain (a headless encoder, a server, an SSH session, CI).
//!
//! The key is derived once, when the store is opened, with Argon2id from the
//! user's passphrase and a random salt; every write encrypts the whole set
//! of secrets with XChaCha20-Poly1305 under a fresh random 24-byte nonce and
//! replaces the file atomically (0600). Refresh tokens rotate at every
//! refresh, so a write must be cheap: deriving the key at each write (as
//! `age`'s scrypt recipient does, about a second) would put a second of
//! CPU on every token refresh. The secrets are decrypted once, at open, and
//! kept in memory as [`SecretString`]s.
//!
//! File format, version 1 (integers little-endian):
//!
//! | bytes | what |
//! |---|---|
//! | 16 | magic `castkey-secrets\n` |
//! | 1 | format version, `1` |
//! | 1 | key derivation, `1` = Argon2id v1.3 |
//! | 4 + 4 + 4 | Argon2 memory (KiB), passes, lanes |
//! | 16 | salt |
//! | 24 | nonce of this write |
//! | n + 16 | ciphertext and Poly1305 tag of the JSON `{"secrets": {name: value}}`; the 46 header bytes above the nonce are its associated data |
//! | 32 | SHA-256 of everything before it |
//!
//! The trailing checksum tells a damaged or truncated file (which Castkey
//! refuses and never overwrites) from a wrong passphrase (the checksum holds
//! but the tag does not).

use super::{SecretKey, SecretStore, SecretStoreError, SecretStoreKind};
use crate::secret::choice::OpenStoreError;
use async_trait::async_trait;
use castkey_ipc::SecretStoreInfo;
use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::TryRngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use zeroize::Zeroizing;

/// The file's name in Castkey's config directory.
pub const SECRETS_FILE: &str = "secrets.enc";

const MAGIC: &[u8; 16] = b"castkey-secrets\n";
const VERSION: u8 = 1;
const KDF_ARGON2ID: u8 = 1;
const SALT_LEN: usize = 16;
const HEADER_LEN: usize = MAGIC.len() + 2 + 12 + SALT_LEN;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const SUM_LEN: usize = 32;
const MIN_LEN: usize = HEADER_LEN + NONCE_LEN + TAG_LEN + SUM_LEN;

/// Argon2id cost: memory in KiB, passes, lanes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KdfParams {
    pub(crate) m_kib: u32,
    pub(crate) t: u32,
    pub(crate) p: u32,
}

impl KdfParams {
    /// RFC 9106's second recommended option (64 MiB, 3 passes) with one
    /// lane: about 0.17 s in a release build on this project's 2-core test
    /// machine, paid once per start of the broker.
    pub(crate) const DEFAULT: KdfParams = KdfParams { m_kib: 64 * 1024, t: 3, p: 1 };

    /// Files with weaker (or absurd) costs are refused rather than opened:
    /// the header is not secret, and a forged one must not make the key
    /// cheap to guess or the open take forever.
    fn acceptable(&self) -> bool {
        (19 * 1024..=4 * 1024 * 1024).contains(&self.m_kib)
            && (1..=64).contains(&self.t)
            && (1..=16).contains(&self.p)
    }
}

/// Every secret in one file encrypted with a key derived from a passphrase.
/// Clones share the same file and the same secrets.
#[derive(Clone)]
pub struct EncryptedFileStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    /// The 46 bytes before the nonce: magic, version, KDF and its salt.
    header: Vec<u8>,
    key: Zeroizing<[u8; 32]>,
    /// Held during a whole write, so writes follow one another and each
    /// holds every change before it.
    secrets: Mutex<BTreeMap<String, SecretString>>,
}

impl fmt::Debug for EncryptedFileStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptedFileStore").field("path", &self.inner.path).finish_non_exhaustive()
    }
}

impl EncryptedFileStore {
    /// The store's file in `config_dir` (`secrets.enc`).
    pub fn path_in(config_dir: &Path) -> PathBuf {
        config_dir.join(SECRETS_FILE)
    }

    /// Opens the store at `path` with `passphrase`, or creates it (empty,
    /// 0600, in a 0700 directory) if there is no file.
    ///
    /// Errors: [`OpenStoreError::WrongPassphrase`] when the passphrase does
    /// not open the file; [`OpenStoreError::Damaged`] for a file that is
    /// truncated, altered or not Castkey's; [`OpenStoreError::EmptyPassphrase`]
    /// when creating with an empty one; [`OpenStoreError::Io`] when the file
    /// cannot be read or created. A file that fails to open is never
    /// written. Blocking: the key derivation takes a fraction of a second
    /// (several seconds in a debug build).
    pub fn open(path: &Path, passphrase: &SecretString) -> Result<Self, OpenStoreError> {
        Self::open_with(path, passphrase, KdfParams::DEFAULT)
    }

    /// [`EncryptedFileStore::open`], with `create` the cost for a new file.
    pub(crate) fn open_with(
        path: &Path,
        passphrase: &SecretString,
        create: KdfParams,
    ) -> Result<Self, OpenStoreError> {
        let io = |source: std::io::Error| OpenStoreError::Io { path: path.to_path_buf(), source };
        match std::fs::read(path) {
            Ok(bytes) => Self::unlock(path, &bytes, passphrase),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if passphrase.expose_secret().is_empty() {
                    return Err(OpenStoreError::EmptyPassphrase);
                }
                let mut salt = [0u8; SALT_LEN];
                rand::rngs::OsRng.try_fill_bytes(&mut salt).map_err(|e| io(std::io::Error::other(e)))?;
                let header = header(create, &salt);
                let key = derive(passphrase, create, &salt)?;
                let store = EncryptedFileStore {
                    inner: Arc::new(Inner {
                        path: path.to_path_buf(),
                        header,
                        key,
                        secrets: Mutex::new(BTreeMap::new()),
                    }),
                };
                store.inner.write(&BTreeMap::new()).map_err(io)?;
                tracing::info!("created the encrypted secrets file {}", path.display());
                Ok(store)
            }
            Err(e) => Err(io(e)),
        }
    }

    fn unlock(path: &Path, bytes: &[u8], passphrase: &SecretString) -> Result<Self, OpenStoreError> {
        let damaged = |why: &str| OpenStoreError::Damaged { path: path.to_path_buf(), why: why.into() };
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(damaged("it does not start like a Castkey secrets file"));
        }
        if bytes.len() < MIN_LEN {
            return Err(damaged("it is truncated"));
        }
        let (body, sum) = bytes.split_at(bytes.len() - SUM_LEN);
        if Sha256::digest(body).as_slice() != sum {
            return Err(damaged("its checksum does not match: it is truncated or was altered"));
        }
        let version = bytes[MAGIC.len()];
        if version != VERSION {
            return Err(damaged(&format!(
                "it is format version {version}, which this Castkey does not read (a newer Castkey wrote it)"
            )));
        }
        if bytes[MAGIC.len() + 1] != KDF_ARGON2ID {
            return Err(damaged("it names a key derivation this Castkey does not know"));
        }
        let u32_at = |at: usize| {
            let mut b = [0u8; 4];
            b.copy_from_slice(&bytes[at..at + 4]);
            u32::from_le_bytes(b)
        };
        let at = MAGIC.len() + 2;
        let params = KdfParams { m_kib: u32_at(at), t: u32_at(at + 4), p: u32_at(at + 8) };
        if !params.acceptable() {
            return Err(damaged("its key derivation costs are out of range"));
        }
        let salt = &bytes[at + 12..HEADER_LEN];
        let header = bytes[..HEADER_LEN].to_vec();
        let nonce = &body[HEADER_LEN..HEADER_LEN + NONCE_LEN];
        let key = derive(passphrase, params, salt)?;
        let mut plain = Zeroizing::new(body[HEADER_LEN + NONCE_LEN..].to_vec());
        let nonce = XNonce::try_from(nonce).map_err(|_| damaged("its nonce is malformed"))?;
        cipher(&key)
            .decrypt_in_place(&nonce, &header, &mut *plain)
            .map_err(|_| OpenStoreError::WrongPassphrase { path: path.to_path_buf() })?;
        let file: FileContents =
            serde_json::from_slice(&plain).map_err(|_| damaged("its decrypted contents are not readable"))?;
        let secrets = file
            .secrets
            .into_iter()
            .map(|(name, value)| (name, SecretString::from(value.as_str())))
            .collect();
        warn_if_readable_by_others(path);
        Ok(EncryptedFileStore {
            inner: Arc::new(Inner { path: path.to_path_buf(), header, key, secrets: Mutex::new(secrets) }),
        })
    }

    /// The file this store keeps its secrets in.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The secret named `name` (e.g. `account/sandbox:streamer/refresh_token`)
    /// in the clear, for scenario tests that check the file never holds it.
    #[cfg(feature = "test-support")]
    pub fn reveal_for_tests(&self, name: &str) -> Option<String> {
        let secrets = self.inner.secrets.lock().unwrap_or_else(|e| e.into_inner());
        secrets.get(name).map(|v| v.expose_secret().to_string())
    }

    /// Changes the secrets with `change` and writes them, on a blocking
    /// thread; on a failed write nothing changes, in memory or on disk.
    async fn update(
        &self,
        change: impl FnOnce(&mut BTreeMap<String, SecretString>) -> bool + Send + 'static,
    ) -> Result<(), SecretStoreError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut secrets = inner.secrets.lock().unwrap_or_else(|e| e.into_inner());
            let mut next = secrets.clone();
            if !change(&mut next) {
                return Ok(());
            }
            inner
                .write(&next)
                .map_err(|e| SecretStoreError::FileFailed(format!("{}: {e}", inner.path.display())))?;
            *secrets = next;
            Ok(())
        })
        .await
        .map_err(|e| SecretStoreError::FileFailed(format!("the write did not finish: {e}")))?
    }
}

#[derive(serde::Deserialize)]
struct FileContents {
    secrets: BTreeMap<String, Zeroizing<String>>,
}

impl Inner {
    /// Encrypts `secrets` under a fresh nonce and replaces the file.
    fn write(&self, secrets: &BTreeMap<String, SecretString>) -> std::io::Result<()> {
        let exposed: BTreeMap<&str, &str> =
            secrets.iter().map(|(k, v)| (k.as_str(), v.expose_secret())).collect();
        // Room for the JSON (escapes at most 6 bytes a byte) and the tag,
        // so the buffer never moves and leaves a copy behind.
        let room = 32 + TAG_LEN + exposed.iter().map(|(k, v)| 6 * (k.len() + v.len()) + 8).sum::<usize>();
        let mut plain = Zeroizing::new(Vec::with_capacity(room));
        serde_json::to_writer(&mut *plain, &serde_json::json!({ "secrets": exposed }))
            .map_err(std::io::Error::other)?;
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.try_fill_bytes(&mut nonce).map_err(std::io::Error::other)?;
        let n = XNonce::try_from(&nonce[..]).map_err(|_| std::io::Error::other("nonce length"))?;
        cipher(&self.key)
            .encrypt_in_place(&n, &self.header, &mut *plain)
            .map_err(|_| std::io::Error::other("encryption failed"))?;
        let mut out = Vec::with_capacity(HEADER_LEN + NONCE_LEN + plain.len() + SUM_LEN);
        out.extend_from_slice(&self.header);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&plain);
        let sum = Sha256::digest(&out);
        out.extend_from_slice(&sum);
        crate::atomic_file::write(&self.path, &out)
    }
}

fn header(params: KdfParams, salt: &[u8; SALT_LEN]) -> Vec<u8> {
    let mut h = Vec::with_capacity(HEADER_LEN);
    h.extend_from_slice(MAGIC);
    h.push(VERSION);
    h.push(KDF_ARGON2ID);
    for n in [params.m_kib, params.t, params.p] {
        h.extend_from_slice(&n.to_le_bytes());
    }
    h.extend_from_slice(salt);
    h
}

fn derive(
    passphrase: &SecretString,
    params: KdfParams,
    salt: &[u8],
) -> Result<Zeroizing<[u8; 32]>, OpenStoreError> {
    let argon_params = argon2::Params::new(params.m_kib, params.t, params.p, Some(32))
        .map_err(|e| OpenStoreError::Passphrase(format!("key derivation parameters: {e}")))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, argon_params);
    let mut key = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(passphrase.expose_secret().as_bytes(), salt, &mut *key)
        .map_err(|e| OpenStoreError::Passphrase(format!("key derivation failed: {e}")))?;
    Ok(key)
}

fn cipher(key: &[u8; 32]) -> XChaCha20Poly1305 {
    // A 32-byte slice is always a valid key.
    XChaCha20Poly1305::new(&(*key).into())
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(
                    "{} can be read by other users (mode {:o}); Castkey writes it 0600 at the next change",
                    path.display(),
                    meta.permissions().mode() & 0o777
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[async_trait]
impl SecretStore for EncryptedFileStore {
    async fn get(&self, key: &SecretKey) -> Result<Option<SecretString>, SecretStoreError> {
        Ok(self.inner.secrets.lock().unwrap_or_else(|e| e.into_inner()).get(&key.name).cloned())
    }

    async fn put(&self, key: &SecretKey, value: &SecretString) -> Result<(), SecretStoreError> {
        let (name, value) = (key.name.clone(), value.clone());
        self.update(move |s| {
            s.insert(name, value);
            true
        })
        .await
    }

    async fn delete(&self, key: &SecretKey) -> Result<(), SecretStoreError> {
        let name = key.name.clone();
        self.update(move |s| s.remove(&name).is_some()).await
    }

    fn describe(&self) -> SecretStoreInfo {
        SecretStoreInfo {
            kind: SecretStoreKind::EncryptedFile.name().into(),
            description: format!("encrypted file {}", self.inner.path.display()),
            path: Some(self.inner.path.display().to_string()),
            limits: Some("opened with its passphrase at every start".into()),
            chosen_by: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cheap enough for many opens in a debug build; [`KdfParams::DEFAULT`]
    /// is tested once.
    const FAST: KdfParams = KdfParams { m_kib: 19 * 1024, t: 1, p: 1 };

    fn pass(s: &str) -> SecretString {
        SecretString::from(s)
    }

    fn open(path: &Path, p: &str) -> Result<EncryptedFileStore, OpenStoreError> {
        EncryptedFileStore::open_with(path, &pass(p), FAST)
    }

    const TOKEN: &str = "rt-0123456789-very-distinctive-refresh-token";

    async fn store_with_token(path: &Path) -> EncryptedFileStore {
        let store = open(path, "correct horse").unwrap();
        store.put(&SecretKey::refresh_token("sandbox:streamer"), &pass(TOKEN)).await.unwrap();
        store
    }

    #[tokio::test]
    async fn secrets_round_trip_and_survive_a_reopen_with_the_right_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("castkey").join(SECRETS_FILE);
        let store = store_with_token(&path).await;
        let key = SecretKey::refresh_token("sandbox:streamer");
        assert_eq!(store.get(&key).await.unwrap().unwrap().expose_secret(), TOKEN);
        let other = SecretKey::api_key("apivideo:k");
        store.put(&other, &pass("key-1")).await.unwrap();
        store.put(&other, &pass("key-2")).await.unwrap();
        store.delete(&SecretKey::client_secret("nobody")).await.unwrap();
        drop(store);

        let again = open(&path, "correct horse").unwrap();
        assert_eq!(again.get(&key).await.unwrap().unwrap().expose_secret(), TOKEN);
        assert_eq!(again.get(&other).await.unwrap().unwrap().expose_secret(), "key-2");
        again.delete(&key).await.unwrap();
        assert!(again.get(&key).await.unwrap().is_none());
        assert!(open(&path, "correct horse").unwrap().get(&key).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_wrong_passphrase_is_refused_by_name_and_the_file_is_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SECRETS_FILE);
        drop(store_with_token(&path).await);
        let before = std::fs::read(&path).unwrap();
        let err = open(&path, "correct hors").unwrap_err();
        assert!(matches!(err, OpenStoreError::WrongPassphrase { .. }), "{err:?}");
        assert_eq!(err.to_string(), format!("the passphrase does not open {}", path.display()));
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    #[tokio::test]
    async fn a_damaged_file_is_refused_as_damaged_and_left_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SECRETS_FILE);
        drop(store_with_token(&path).await);
        let good = std::fs::read(&path).unwrap();
        let mut flipped = good.clone();
        let middle = HEADER_LEN + NONCE_LEN + 3;
        flipped[middle] ^= 0x40;
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("a flipped byte", flipped),
            ("truncated by 10 bytes", good[..good.len() - 10].to_vec()),
            ("truncated inside the header", good[..20].to_vec()),
            ("empty", Vec::new()),
            ("not ours", b"{\"secrets\":{}}".to_vec()),
        ];
        for (what, bytes) in cases {
            std::fs::write(&path, &bytes).unwrap();
            let err = open(&path, "correct horse").unwrap_err();
            assert!(matches!(err, OpenStoreError::Damaged { .. }), "{what}: {err:?}");
            let text = err.to_string();
            assert!(
                text.contains(&path.display().to_string()) && text.contains("left it as it is"),
                "{text}"
            );
            assert_eq!(std::fs::read(&path).unwrap(), bytes, "{what}: the file was changed");
        }
    }

    #[tokio::test]
    async fn a_new_file_needs_a_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SECRETS_FILE);
        assert!(matches!(open(&path, "").unwrap_err(), OpenStoreError::EmptyPassphrase));
        assert!(!path.exists());
    }

    #[tokio::test]
    async fn the_file_is_private_and_holds_no_plaintext() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("castkey").join(SECRETS_FILE);
        let store = store_with_token(&path).await;
        let bytes = std::fs::read(store.path()).unwrap();
        let find = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
        assert!(!find(TOKEN.as_bytes()), "the refresh token is in the file in the clear");
        assert!(!find(b"sandbox:streamer"), "the secret's name is in the file in the clear");
        assert!(!find(b"correct horse"), "the passphrase is in the file");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let dir_mode = std::fs::metadata(path.parent().unwrap()).unwrap().permissions().mode();
        assert_eq!(dir_mode & 0o777, 0o700);
    }

    #[tokio::test]
    async fn each_write_uses_a_fresh_nonce() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SECRETS_FILE);
        let store = store_with_token(&path).await;
        let key = SecretKey::refresh_token("sandbox:streamer");
        let first = std::fs::read(&path).unwrap();
        store.put(&key, &pass(TOKEN)).await.unwrap();
        let second = std::fs::read(&path).unwrap();
        assert_eq!(first[..HEADER_LEN], second[..HEADER_LEN], "salt and costs stay");
        let nonce = |b: &[u8]| b[HEADER_LEN..HEADER_LEN + NONCE_LEN].to_vec();
        assert_ne!(nonce(&first), nonce(&second), "the same secrets were written under the same nonce");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_puts_all_land() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SECRETS_FILE);
        let store = open(&path, "pw").unwrap();
        let tasks: Vec<_> = (0..24)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    store.put(&SecretKey::refresh_token(&format!("p:{i}")), &pass(&format!("t{i}"))).await
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let again = open(&path, "pw").unwrap();
        for i in 0..24 {
            let got = again.get(&SecretKey::refresh_token(&format!("p:{i}"))).await.unwrap();
            assert_eq!(got.unwrap().expose_secret(), format!("t{i}"), "put {i} was lost");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_reader_only_ever_sees_a_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SECRETS_FILE);
        let store = open(&path, "pw").unwrap();
        // The first version stays open: a file replaced by rename keeps what
        // it held; one rewritten in place would change under this handle.
        let first = std::fs::read(&path).unwrap();
        let mut held = std::fs::File::open(&path).unwrap();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = std::thread::spawn({
            let (path, stop, key) = (path.clone(), stop.clone(), store.inner.key.clone());
            move || {
                let mut reads = 0;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) || reads == 0 {
                    let bytes = std::fs::read(&path).unwrap();
                    let (body, sum) = bytes.split_at(bytes.len() - SUM_LEN);
                    assert_eq!(Sha256::digest(body).as_slice(), sum, "a half-written file was seen");
                    let nonce = XNonce::try_from(&body[HEADER_LEN..HEADER_LEN + NONCE_LEN]).unwrap();
                    let mut plain = body[HEADER_LEN + NONCE_LEN..].to_vec();
                    cipher(&key).decrypt_in_place(&nonce, &body[..HEADER_LEN], &mut plain).unwrap();
                    reads += 1;
                }
                reads
            }
        });
        for i in 0..40 {
            store.put(&SecretKey::refresh_token("a"), &pass(&"x".repeat(i * 50))).await.unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(reader.join().unwrap() > 0);
        let mut still = Vec::new();
        std::io::Read::read_to_end(&mut held, &mut still).unwrap();
        assert_eq!(still, first, "the file was rewritten in place, not replaced");
        assert_ne!(std::fs::read(&path).unwrap(), first);
        let leftovers = std::fs::read_dir(dir.path()).unwrap().flatten().count();
        assert_eq!(leftovers, 1, "temporary files left behind");
    }

    #[tokio::test]
    async fn a_failed_write_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("castkey");
        let path = sub.join(SECRETS_FILE);
        let store = store_with_token(&path).await;
        let before = std::fs::read(&path).unwrap();
        // A plain file where the directory was: no write can succeed (not
        // even root's, which a directory's mode would not stop).
        let aside = dir.path().join("aside");
        std::fs::rename(&sub, &aside).unwrap();
        std::fs::write(&sub, b"in the way").unwrap();
        let key = SecretKey::refresh_token("sandbox:streamer");
        let err = store.put(&key, &pass("new")).await.unwrap_err();
        std::fs::remove_file(&sub).unwrap();
        std::fs::rename(&aside, &sub).unwrap();
        assert_eq!(err.code(), "secret_file_failed", "{err}");
        assert!(err.to_string().contains(&path.display().to_string()), "{err}");
        assert_eq!(store.get(&key).await.unwrap().unwrap().expose_secret(), TOKEN, "memory changed");
        assert_eq!(std::fs::read(&path).unwrap(), before);
        // The next write works and holds the earlier secrets too.
        store.put(&SecretKey::api_key("k"), &pass("v")).await.unwrap();
        let again = open(&path, "correct horse").unwrap();
        assert_eq!(again.get(&key).await.unwrap().unwrap().expose_secret(), TOKEN);
    }

    #[tokio::test]
    async fn the_default_cost_opens_what_it_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SECRETS_FILE);
        let store = EncryptedFileStore::open(&path, &pass("pw")).unwrap();
        store.put(&SecretKey::api_key("a"), &pass("v")).await.unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes[MAGIC.len()..MAGIC.len() + 2], [VERSION, KDF_ARGON2ID]);
        let again = EncryptedFileStore::open(&path, &pass("pw")).unwrap();
        assert_eq!(again.get(&SecretKey::api_key("a")).await.unwrap().unwrap().expose_secret(), "v");
        assert_eq!(again.describe().kind, "file");
    }
}
