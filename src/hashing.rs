//! Password hashing: argon2id at OWASP's cost (12 MiB, 3 passes, 1 lane),
//! run on the blocking pool so a burst of sign-ins does not stall the async
//! workers, and at most one per core at a time so a burst cannot exhaust
//! memory: a burst queues for a slot, and a request that cannot get one
//! within `PASSWORD_HASH_WAIT_MS` is answered 503 with `Retry-After`
//! instead of waiting without end. (The 12 MiB of each hash is given back to
//! the system when it is done: see `give_memory_back_at_once` in `main.rs`.)
//! Sign-in and sign-up are rate limited; a signed-in user's own checks (a
//! password change) are not (API.md limits no other route), so they may
//! hold only half the slots at once ([`Hasher::for_signed_in`]): a flood of
//! them from any number of accounts cannot keep everyone else from signing
//! in.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use argon2::password_hash::SaltString;
use argon2::password_hash::rand_core::OsRng;
use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

/// OWASP Password Storage Cheat Sheet, argon2id: one of the five settings it
/// holds equivalent (m=12 MiB, t=3, p=1), about the same work as its 19 MiB
/// with 2 passes, in 7 MiB less a hash: two slots at once made a burst of
/// sign-ins peak past the server's 64 MB target (issue 15). Hashes made
/// with the earlier settings still verify, at their own cost (the PHC
/// string carries its settings), and are made anew after the account's
/// next sign-in ([`is_current`]): until then, such an account's wrong
/// password takes a little longer than an unknown email's (which is checked
/// against a hash of the current settings).
const MEMORY_KIB: u32 = 12 * 1024;
const PASSES: u32 = 3;
const LANES: u32 = 1;

/// Why a password could not be hashed or checked.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every slot stayed taken for the whole wait: a burst of sign-ins.
    #[error("every password hashing slot is busy")]
    Busy,
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

impl From<HashError> for crate::error::AppError {
    fn from(error: HashError) -> Self {
        match error {
            HashError::Busy => {
                metrics::counter!("password_hash_busy_total").increment(1);
                Self::unavailable("too many password checks at once; retry shortly")
            }
            HashError::Failed(cause) => Self::Internal(cause),
        }
    }
}

/// Runs argon2id: a few hashes at a time, one a core by default (more would
/// only queue on the CPU while each holds its 12 MiB; a memory limit may
/// want fewer: `PASSWORD_HASH_SLOTS`), waiting at most `wait` for a slot.
#[derive(Debug, Clone)]
pub struct Hasher {
    slots: Arc<Semaphore>,
    /// The share of `slots` that signed-in users' checks may hold at once.
    signed_in_share: Arc<Semaphore>,
    /// Whether this hasher's work takes that share first.
    signed_in: bool,
    wait: Duration,
}

fn argon2id() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

impl Hasher {
    /// `slots` hashes at once (`PASSWORD_HASH_SLOTS`, one a core by
    /// default; at least two, so that the signed-in users' half leaves
    /// sign-ins one); a hash waits at most `wait` for a slot.
    pub fn new(slots: usize, wait: Duration) -> Self {
        let slots = slots.max(2);
        Self {
            slots: Arc::new(Semaphore::new(slots)),
            signed_in_share: Arc::new(Semaphore::new((slots / 2).max(1))),
            signed_in: false,
            wait,
        }
    }

    /// The same slots, for the checks of a signed-in user: each takes a
    /// place in their half first.
    pub fn for_signed_in(&self) -> Self {
        Self {
            signed_in: true,
            ..self.clone()
        }
    }

    /// Hashes `password` into a PHC string (`$argon2id$v=19$m=12288,t=3,p=1$...`).
    pub async fn hash_password(&self, password: SecretString) -> Result<String, HashError> {
        self.off_the_workers(move || {
            let salt = SaltString::generate(&mut OsRng);
            argon2id()
                .hash_password(password.expose_secret().as_bytes(), &salt)
                .map(|hash| hash.to_string())
                .map_err(|error| anyhow::anyhow!("argon2 hashing failed: {error}"))
        })
        .await
    }

    /// Whether `password` matches `stored_hash`. With no stored hash (an unknown
    /// email) it checks against a dummy hash of the same cost, so that the answer
    /// takes as long as for a known email and says nothing about which it was.
    pub async fn verify_password(
        &self,
        password: SecretString,
        stored_hash: Option<String>,
    ) -> Result<bool, HashError> {
        self.off_the_workers(move || {
            let known = stored_hash.is_some();
            let hash_text = stored_hash.unwrap_or_else(|| dummy_hash().to_owned());
            let parsed = PasswordHash::new(&hash_text)
                .map_err(|error| anyhow::anyhow!("stored password hash is unreadable: {error}"))?;
            let matches = argon2id()
                .verify_password(password.expose_secret().as_bytes(), &parsed)
                .is_ok();
            Ok(known && matches)
        })
        .await
    }

    /// Computes the dummy hash ahead of the first sign-in of an unknown email,
    /// so that one does not take twice as long as the others.
    pub async fn warm_up(&self) {
        let _ = self.off_the_workers(|| Ok(dummy_hash().len())).await;
    }

    async fn off_the_workers<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    ) -> Result<T, HashError> {
        let deadline = tokio::time::Instant::now() + self.wait;
        let take = async |slots: &Arc<Semaphore>| {
            tokio::time::timeout_at(deadline, slots.clone().acquire_owned())
                .await
                .map_err(|_| HashError::Busy)?
                .map_err(|_| HashError::from(anyhow::anyhow!("the hashing semaphore is closed")))
        };
        let share = match self.signed_in {
            true => Some(take(&self.signed_in_share).await?),
            false => None,
        };
        let slot = take(&self.slots).await?;
        // The slot goes with the hash, not with the request: a request
        // dropped while its hash runs (its client gone, the request timeout)
        // must not let another hash start beside it, and its memory.
        Ok(tokio::task::spawn_blocking(move || {
            let _slots = (slot, share);
            work()
        })
        .await
        .map_err(|error| anyhow::anyhow!("the hashing task failed: {error}"))??)
    }
}

/// Whether `hash` was made with the current settings (else the next
/// sign-in makes it anew).
pub fn is_current(hash: &str) -> bool {
    PasswordHash::new(hash)
        .ok()
        .and_then(|parsed| Params::try_from(&parsed).ok())
        .is_some_and(|params| {
            (params.m_cost(), params.t_cost(), params.p_cost()) == (MEMORY_KIB, PASSES, LANES)
        })
}

/// A hash of a random password, made once per process at the real cost.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        argon2id()
            .hash_password(uuid::Uuid::new_v4().as_bytes(), &salt)
            .expect("argon2 hashes a fixed-size input")
            .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher() -> Hasher {
        Hasher::new(2, Duration::from_secs(10))
    }

    #[tokio::test]
    async fn only_a_hash_of_the_current_settings_is_current() {
        let hash = hasher()
            .hash_password("correct horse".to_owned().into())
            .await
            .unwrap();
        assert!(is_current(&hash));
        let earlier = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(19 * 1024, 2, 1, None).unwrap(),
        )
        .hash_password(b"correct horse", &SaltString::generate(&mut OsRng))
        .unwrap()
        .to_string();
        assert!(!is_current(&earlier));
        assert!(!is_current("not a hash"));
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hasher = hasher();
        let hash = hasher
            .hash_password("correct horse".to_owned().into())
            .await
            .unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=12288,t=3,p=1$"),
            "{hash}"
        );
        assert!(
            hasher
                .verify_password("correct horse".to_owned().into(), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify_password("correct horsE".to_owned().into(), Some(hash))
                .await
                .unwrap()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn signed_in_checks_leave_half_the_slots_to_sign_ins() {
        let hasher = Hasher::new(4, Duration::from_secs(60));
        let flood: Vec<_> = (0..6)
            .map(|_| {
                let checks = hasher.for_signed_in();
                tokio::spawn(async move { checks.hash_password("guess".to_owned().into()).await })
            })
            .collect();
        while hasher.slots.available_permits() > 2 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // The other four checks wait for the share, not for the slots: two
        // stay free throughout.
        for _ in 0..50 {
            assert!(hasher.slots.available_permits() >= 2);
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // A sign-in that may not wait at all still finds a slot.
        let impatient = Hasher {
            wait: Duration::from_millis(1),
            ..hasher.clone()
        };
        impatient
            .verify_password("anything".to_owned().into(), None)
            .await
            .unwrap();
        for check in flood {
            check.await.unwrap().unwrap();
        }
    }

    #[test]
    fn one_slot_asked_for_is_two_so_that_sign_ins_keep_one() {
        let hasher = Hasher::new(1, Duration::from_secs(1));
        assert_eq!(hasher.slots.available_permits(), 2);
        assert_eq!(hasher.signed_in_share.available_permits(), 1);
    }

    #[tokio::test]
    async fn an_unknown_account_never_verifies() {
        assert!(
            !hasher()
                .verify_password("anything".to_owned().into(), None)
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn a_hash_given_up_by_its_request_keeps_its_slot_until_it_ends() {
        let hasher = Hasher::new(2, Duration::from_secs(5));
        let slots = hasher.slots.available_permits();
        let given_up = tokio::time::timeout(
            Duration::from_millis(5),
            hasher.hash_password("correct horse".to_owned().into()),
        )
        .await;
        assert!(given_up.is_err(), "the hash ended within 5 ms");
        assert_eq!(hasher.slots.available_permits(), slots - 1);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while hasher.slots.available_permits() < slots {
            assert!(
                std::time::Instant::now() < deadline,
                "the slot never came back"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn a_hash_that_cannot_get_a_slot_in_time_is_refused() {
        let hasher = Hasher::new(2, Duration::from_millis(50));
        let _taken: Vec<_> = (0..hasher.slots.available_permits())
            .map(|_| hasher.slots.clone().try_acquire_owned().unwrap())
            .collect();
        let refused = hasher
            .hash_password("correct horse".to_owned().into())
            .await;
        assert!(matches!(refused, Err(HashError::Busy)), "{refused:?}");
    }
}
