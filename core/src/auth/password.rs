//! argon2id hashing, run on the blocking pool so a hash (tens of milliseconds
//! of CPU by design) never stalls the async runtime.

use std::sync::LazyLock;

use anyhow::Context;
use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Argon2,
};
use tokio::sync::Semaphore;

/// Each hash takes ~19 MiB and tens of milliseconds of a core: bound how many
/// run at once so a burst of registrations or logins queues instead of
/// exhausting memory and the blocking pool.
static PERMITS: LazyLock<Semaphore> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    Semaphore::new(cores * 2)
});

pub async fn hash(password: String) -> anyhow::Result<String> {
    let _permit = PERMITS.acquire().await.context("hashing permits")?;
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
    })
    .await
    .context("password hashing task")?
}

pub async fn verify(password: String, hash: String) -> anyhow::Result<bool> {
    let _permit = PERMITS.acquire().await.context("hashing permits")?;
    tokio::task::spawn_blocking(move || {
        let parsed =
            PasswordHash::new(&hash).map_err(|e| anyhow::anyhow!("stored hash is invalid: {e}"))?;
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await
    .context("password verification task")?
}

/// A valid hash of a random password, verified against when the e-mail is
/// unknown so that login takes as long as for a real account.
pub fn dummy_hash() -> &'static str {
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3W3sC0AqBV3S8qzQ4tMCHYpcf4EJXd2hF6bc5xuFdvE"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let h = hash("correct horse".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse".into(), h.clone()).await.unwrap());
        assert!(!verify("wrong horse".into(), h).await.unwrap());
    }

    #[tokio::test]
    async fn the_dummy_hash_parses_and_rejects() {
        assert!(!verify("anything".into(), dummy_hash().into())
            .await
            .unwrap());
    }
}
