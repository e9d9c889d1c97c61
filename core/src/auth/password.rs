//! argon2id hashing, run on the blocking pool so a hash (tens of milliseconds
//! of CPU by design) never stalls the async runtime.

use std::sync::LazyLock;

use anyhow::Context;
use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Algorithm, Argon2, Params, Version,
};
use tokio::sync::Semaphore;

/// argon2id with 7 MiB, 5 passes, one lane: one of the settings OWASP's
/// Password Storage Cheat Sheet lists as equally strong as 19 MiB and 2
/// passes (the `argon2` crate's default) at about the same CPU time, and
/// 12 MiB less of the API's memory per hash in progress. Hashes made with
/// other settings (older accounts) keep verifying: the settings are in the
/// stored hash.
const MEMORY_KIB: u32 = 7 * 1024;
const PASSES: u32 = 5;

fn hasher() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, PASSES, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Each hash takes its memory and tens of milliseconds of a core: as many
/// at once as there are cores (more would only queue on the CPU while
/// holding memory), so a burst of registrations or logins waits here
/// instead of exhausting memory and the blocking pool.
static PERMITS: LazyLock<Semaphore> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    Semaphore::new(cores)
});

pub async fn hash(password: String) -> anyhow::Result<String> {
    let _permit = PERMITS.acquire().await.context("hashing permits")?;
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        hasher()
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
        Ok(hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await
    .context("password verification task")?
}

/// A valid hash of a random password with today's settings, verified
/// against when the e-mail is unknown so that login takes as long as for a
/// real account.
pub fn dummy_hash() -> &'static str {
    "$argon2id$v=19$m=7168,t=5,p=1$c29tZXNhbHRzb21lc2FsdA$+Gz9b7vw37zEIfR5MNcqBebWlElKzMMIqTS+pnaV3AA"
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
    async fn new_hashes_and_the_dummy_use_todays_settings() {
        let made = hash("correct horse".into()).await.unwrap();
        for stored in [made.as_str(), dummy_hash()] {
            let parsed = PasswordHash::new(stored).unwrap();
            let params = Params::try_from(&parsed).unwrap();
            assert_eq!(
                (params.m_cost(), params.t_cost(), params.p_cost()),
                (MEMORY_KIB, PASSES, 1),
                "{stored}"
            );
        }
    }

    #[tokio::test]
    async fn a_hash_with_the_old_settings_still_verifies() {
        // Made with argon2's defaults (19 MiB, 2 passes), as accounts
        // created before the change are stored.
        let old = Argon2::default()
            .hash_password(b"correct horse", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        assert!(old.contains("m=19456,t=2"));
        assert!(verify("correct horse".into(), old.clone()).await.unwrap());
        assert!(!verify("wrong horse".into(), old).await.unwrap());
    }

    #[tokio::test]
    async fn the_dummy_hash_parses_and_rejects() {
        assert!(!verify("anything".into(), dummy_hash().into())
            .await
            .unwrap());
    }
}
