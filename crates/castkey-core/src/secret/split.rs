//! Secrets longer than one keychain item holds, split across items: for
//! Windows Credential Manager, whose blobs hold at most 2,560 bytes (and
//! `set_password` stores UTF-16, halving that; PITFALLS #12). Long JWT
//! refresh tokens exceed it.
//!
//! A value that fits (and does not look like a split head) is one item
//! holding its UTF-8 bytes (`set_secret`). A longer one is written as parts
//! `<name>/<generation>/<i>` (i from 1), each at most `limit` bytes, and
//! then the item `<name>` is set to `castkey-split:<generation>:<count>`.
//! Parts of the previous generation are removed after the head points at
//! the new ones, so a crash in between leaves the old value or the new one,
//! never a mix. Values over [`MAX_PARTS`] parts are refused.
//!
//! Compiled everywhere and tested on Linux against `keyring-core`'s mock
//! store; used by the keychain store on Windows only.
#![cfg_attr(not(target_os = "windows"), allow(dead_code))]

use keyring_core::{Entry, Error, Result};

/// Windows Credential Manager's `CRED_MAX_CREDENTIAL_BLOB_SIZE`.
pub(crate) const WINDOWS_BLOB_MAX: usize = 2560;

/// At most 16 parts (40 KiB with Windows' limit): more is not a token.
pub(crate) const MAX_PARTS: usize = 16;

const MARK: &str = "castkey-split:";

/// Builds the entry for an item name.
pub(crate) type Maker<'a> = &'a dyn Fn(&str) -> Result<Entry>;

fn part_name(name: &str, generation: u32, i: usize) -> String {
    format!("{name}/{generation}/{i}")
}

/// `(generation, count)` when `head` is a split head.
fn parse_head(head: &[u8]) -> Option<(u32, usize)> {
    let text = std::str::from_utf8(head).ok()?.strip_prefix(MARK)?;
    let (generation, count) = text.split_once(':')?;
    Some((generation.parse().ok()?, count.parse().ok()?))
}

fn missing_ok(r: Result<()>) -> Result<()> {
    match r {
        Ok(()) | Err(Error::NoEntry) => Ok(()),
        Err(e) => Err(e),
    }
}

fn head(make: Maker, name: &str) -> Result<Option<Vec<u8>>> {
    match make(name)?.get_secret() {
        Ok(v) => Ok(Some(v)),
        Err(Error::NoEntry) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The value stored under `name`, joined from its parts if split; a part
/// gone missing is an error, not a shorter value.
pub(crate) fn get(make: Maker, name: &str) -> Result<Option<Vec<u8>>> {
    let Some(head) = head(make, name)? else { return Ok(None) };
    let Some((generation, count)) = parse_head(&head) else { return Ok(Some(head)) };
    let mut value = Vec::new();
    for i in 1..=count {
        match make(&part_name(name, generation, i))?.get_secret() {
            Ok(part) => value.extend_from_slice(&part),
            Err(Error::NoEntry) => {
                return Err(Error::Invalid(name.into(), format!("part {i} of {count} is missing")))
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Some(value))
}

/// Stores `value` under `name`, split into parts of at most `limit` bytes
/// when it is longer. Errors: [`Error::TooLong`] past [`MAX_PARTS`] parts.
pub(crate) fn put(make: Maker, name: &str, value: &[u8], limit: usize) -> Result<()> {
    let old = head(make, name)?.as_deref().and_then(parse_head);
    if value.len() <= limit && !value.starts_with(MARK.as_bytes()) {
        make(name)?.set_secret(value)?;
    } else {
        let count = value.len().div_ceil(limit).max(1);
        if count > MAX_PARTS {
            return Err(Error::TooLong(
                format!(
                    "a secret of {} bytes (Castkey splits up to {MAX_PARTS} items of {limit} bytes)",
                    value.len()
                ),
                (MAX_PARTS * limit) as u32,
            ));
        }
        let generation = old.map_or(1, |(g, _)| g.wrapping_add(1));
        for (i, chunk) in value.chunks(limit).enumerate() {
            make(&part_name(name, generation, i + 1))?.set_secret(chunk)?;
        }
        make(name)?.set_secret(format!("{MARK}{generation}:{count}").as_bytes())?;
    }
    if let Some((generation, count)) = old {
        for i in 1..=count {
            missing_ok(make(&part_name(name, generation, i))?.delete_credential())?;
        }
    }
    Ok(())
}

/// Removes `name` and its parts; a missing one is not an error.
pub(crate) fn delete(make: Maker, name: &str) -> Result<()> {
    if let Some((generation, count)) = head(make, name)?.as_deref().and_then(parse_head) {
        for i in 1..=count {
            missing_ok(make(&part_name(name, generation, i))?.delete_credential())?;
        }
    }
    missing_ok(make(name)?.delete_credential())
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyring_core::api::CredentialStoreApi;

    fn with_store(f: impl FnOnce(Maker, &dyn Fn(&str) -> Option<Vec<u8>>)) {
        let store = keyring_core::mock::Store::new().unwrap();
        let make = |name: &str| store.build("castkey", name, None);
        let raw = |name: &str| store.build("castkey", name, None).unwrap().get_secret().ok();
        f(&make, &raw);
    }

    /// A refresh token of `n` bytes, as long JWTs are.
    fn token(n: usize) -> Vec<u8> {
        (0..n).map(|i| b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[i % 64]).collect()
    }

    #[test]
    fn a_value_that_fits_is_one_item() {
        with_store(|make, raw| {
            let v = token(WINDOWS_BLOB_MAX);
            put(make, "rt", &v, WINDOWS_BLOB_MAX).unwrap();
            assert_eq!(raw("rt").unwrap(), v);
            assert_eq!(get(make, "rt").unwrap().unwrap(), v);
        });
    }

    #[test]
    fn a_long_value_is_split_into_items_within_the_limit_and_joined_again() {
        with_store(|make, raw| {
            let v = token(WINDOWS_BLOB_MAX * 2 + 7);
            put(make, "rt", &v, WINDOWS_BLOB_MAX).unwrap();
            assert_eq!(raw("rt").unwrap(), b"castkey-split:1:3");
            for i in 1..=3 {
                assert!(raw(&format!("rt/1/{i}")).unwrap().len() <= WINDOWS_BLOB_MAX);
            }
            assert_eq!(get(make, "rt").unwrap().unwrap(), v);

            // A rotation to a shorter token leaves no part of the old one.
            let short = token(100);
            put(make, "rt", &short, WINDOWS_BLOB_MAX).unwrap();
            assert_eq!(get(make, "rt").unwrap().unwrap(), short);
            assert!((1..=3).all(|i| raw(&format!("rt/1/{i}")).is_none()), "old parts left behind");

            // And back to a long one, then gone.
            put(make, "rt", &v, WINDOWS_BLOB_MAX).unwrap();
            put(make, "rt", &token(WINDOWS_BLOB_MAX + 1), WINDOWS_BLOB_MAX).unwrap();
            assert_eq!(raw("rt").unwrap(), b"castkey-split:2:2");
            assert!(raw("rt/1/3").is_none());
            delete(make, "rt").unwrap();
            assert!(get(make, "rt").unwrap().is_none());
            assert!(raw("rt/2/1").is_none() && raw("rt/2/2").is_none());
            delete(make, "rt").unwrap();
        });
    }

    #[test]
    fn a_value_that_looks_like_a_head_is_stored_split_and_read_back_as_it_was() {
        with_store(|make, _| {
            let v = b"castkey-split:9:9".to_vec();
            put(make, "x", &v, WINDOWS_BLOB_MAX).unwrap();
            assert_eq!(get(make, "x").unwrap().unwrap(), v);
        });
    }

    #[test]
    fn too_long_is_refused_clearly_and_a_missing_part_is_an_error() {
        with_store(|make, _| {
            let err = put(make, "rt", &token(MAX_PARTS * 100 + 1), 100).unwrap_err();
            assert!(matches!(err, Error::TooLong(..)), "{err}");
            assert!(err.to_string().contains("Castkey splits up to 16 items"), "{err}");
            assert!(get(make, "rt").unwrap().is_none(), "a refused value left something behind");

            put(make, "rt", &token(250), 100).unwrap();
            make("rt/1/2").unwrap().delete_credential().unwrap();
            let err = get(make, "rt").unwrap_err().to_string();
            assert!(err.contains("part 2 of 3 is missing"), "{err}");
        });
    }
}
