//! Staff authentication: argon2id password hashes and random bearer tokens stored hashed.
//!
//! The administrator's user commands (`shelfmark-server user ...`) are here too, as library
//! functions ([`add`], [`passwd`], [`disable`], [`enable`], [`remove`], [`list`]) so that the
//! binary and the tests call the same code; the password rule is [`check_password`].
//!
//! Tokens are 256 random bits; the database keeps only their SHA-256, so a leaked database
//! does not leak sessions. `crate::http::staff::Staff` looks each one up on every request.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use shelfmark_core::wire::Role;

use crate::store::{Store, StoreError, User, UserChange, UserEntry};

/// Hashes a password with argon2id (default parameters: 19 MiB, 2 passes).
pub fn hash_password(password: &str) -> Result<String, StoreError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Corrupt(format!("cannot hash a password: {e}")))
}

/// Whether `password` matches a stored argon2 hash (a malformed hash matches nothing).
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A new random bearer token.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What the database stores of a token.
pub fn token_hash(token: &str) -> String {
    format!("{:x}", Sha256::digest(token.as_bytes()))
}

/// Adds a staff user, or resets the role and password of an existing one (ending their
/// sessions). The administrator's `user add` is [`add`], which refuses an existing name.
pub async fn add_user(
    store: &Store,
    name: &str,
    role: Role,
    password: &str,
) -> Result<(), StoreError> {
    let hash = hash_off_thread(password).await?;
    let id = match store.user_named(name).await? {
        Some(existing) => existing.id,
        None => uuid::Uuid::now_v7(),
    };
    store
        .upsert_user(&User {
            id,
            name: name.to_owned(),
            role,
            password_hash: hash,
            disabled: false,
        })
        .await
}

async fn hash_off_thread(password: &str) -> Result<String, StoreError> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
}

/// Why an administrator's user command was refused.
#[derive(Debug, thiserror::Error)]
pub enum UserAdminError {
    #[error("there is no user named {0:?}")]
    NoSuchUser(String),
    #[error("a user named {0:?} exists already (`user passwd` changes the password)")]
    Exists(String),
    #[error("a user name must be 1 to 64 characters, without spaces or control characters")]
    BadName,
    #[error("a password needs at least {MIN_PASSWORD_CHARS} characters")]
    ShortPassword,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The fewest characters a staff password may have.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// The password rule: at least [`MIN_PASSWORD_CHARS`] characters.
pub fn check_password(password: &str) -> Result<(), UserAdminError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(UserAdminError::ShortPassword);
    }
    Ok(())
}

fn check_name(name: &str) -> Result<(), UserAdminError> {
    let bad = name.is_empty()
        || name.chars().count() > 64
        || name.chars().any(|c| c.is_whitespace() || c.is_control());
    if bad {
        return Err(UserAdminError::BadName);
    }
    Ok(())
}

/// `user add NAME --role R`: a new, enabled staff user.
pub async fn add(
    store: &Store,
    name: &str,
    role: Role,
    password: &str,
) -> Result<(), UserAdminError> {
    check_name(name)?;
    check_password(password)?;
    if store.user_named(name).await?.is_some() {
        return Err(UserAdminError::Exists(name.to_owned()));
    }
    Ok(add_user(store, name, role, password).await?)
}

/// `user passwd NAME`: a new password; every session of the user ends. Answers how many
/// live sessions ended.
pub async fn passwd(store: &Store, name: &str, password: &str) -> Result<u64, UserAdminError> {
    check_password(password)?;
    let hash = hash_off_thread(password).await?;
    change(store, name, UserChange::Password(hash)).await
}

/// `user disable NAME`: the user can no longer sign in, and every session of theirs ends.
pub async fn disable(store: &Store, name: &str) -> Result<u64, UserAdminError> {
    change(store, name, UserChange::Disabled(true)).await
}

/// `user enable NAME`: a disabled user may sign in again (with the password they had).
pub async fn enable(store: &Store, name: &str) -> Result<(), UserAdminError> {
    change(store, name, UserChange::Disabled(false)).await?;
    Ok(())
}

/// `user remove NAME`: the user and their sessions go; the records' history keeps the name
/// as the author of their revisions.
pub async fn remove(store: &Store, name: &str) -> Result<u64, UserAdminError> {
    change(store, name, UserChange::Remove).await
}

/// `user list`: every staff user by name, with their live sessions.
pub async fn list(store: &Store) -> Result<Vec<UserEntry>, UserAdminError> {
    Ok(store.users().await?)
}

async fn change(store: &Store, name: &str, change: UserChange) -> Result<u64, UserAdminError> {
    store
        .change_user(name, change)
        .await?
        .ok_or_else(|| UserAdminError::NoSuchUser(name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_own_hash_only() {
        let hash = hash_password("correct horse").expect("hashes");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("battery staple", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
    }

    #[test]
    fn tokens_are_random_and_stored_hashed() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), a);
    }
}
