//! Per-tenant admission: how many requests of a tenant may run at once, and how fast they may come (a token
//! bucket). A refused request is answered 429 with `Retry-After`, before its body is read. The limiters
//! follow the tenant's limits in the catalog: a changed limit takes effect with the next request.

use edge_infer_catalog::Limits;
use governor::{DefaultDirectRateLimiter, Quota};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why a request was not admitted, and when to try again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Which limit refused it: `rate` or `concurrency` (a metric label).
    pub kind: &'static str,
    /// What limit refused it, for a person.
    pub reason: String,
    /// When trying again makes sense.
    pub retry_after: Duration,
}

/// Proof of admission: holds the tenant's concurrency slot until dropped.
pub struct Admission {
    _permit: Option<OwnedSemaphorePermit>,
}

#[derive(Default)]
struct TenantGate {
    concurrency: Option<(u32, Arc<Semaphore>)>,
    rate: Option<((u32, u32), Arc<DefaultDirectRateLimiter>)>,
}

/// The admission state of every tenant on this node.
#[derive(Default)]
pub struct Quotas {
    tenants: Mutex<HashMap<String, TenantGate>>,
}

impl Quotas {
    /// Admits one request of `tenant` under `limits`, or says why not.
    pub fn admit(&self, tenant: &str, limits: &Limits) -> Result<Admission, Refusal> {
        let (semaphore, limiter) = {
            let mut tenants = self.tenants.lock().expect("quota lock");
            let gate = tenants.entry(tenant.to_string()).or_default();
            let semaphore = match limits.max_concurrency {
                None => None,
                Some(n) => {
                    if gate.concurrency.as_ref().is_none_or(|(size, _)| *size != n) {
                        gate.concurrency = Some((n, Arc::new(Semaphore::new(n as usize))));
                    }
                    gate.concurrency.as_ref().map(|(_, s)| s.clone())
                }
            };
            let limiter = match limits.requests_per_second.and_then(NonZeroU32::new) {
                None => None,
                Some(rate) => {
                    let burst = limits.burst.and_then(NonZeroU32::new).unwrap_or(rate);
                    if gate.rate.as_ref().is_none_or(|(key, _)| *key != (rate.get(), burst.get())) {
                        let quota = Quota::per_second(rate).allow_burst(burst);
                        gate.rate =
                            Some(((rate.get(), burst.get()), Arc::new(DefaultDirectRateLimiter::direct(quota))));
                    }
                    gate.rate.as_ref().map(|(_, l)| l.clone())
                }
            };
            (semaphore, limiter)
        };
        if let Some(limiter) = limiter
            && let Err(not_until) = limiter.check()
        {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(&governor::clock::DefaultClock::default()));
            return Err(Refusal {
                kind: "rate",
                reason: format!(
                    "over the rate limit of {} requests per second",
                    limits.requests_per_second.unwrap_or(0)
                ),
                retry_after: wait.max(Duration::from_secs(1)),
            });
        }
        let permit = match semaphore {
            None => None,
            Some(semaphore) => Some(semaphore.try_acquire_owned().map_err(|_| Refusal {
                kind: "concurrency",
                reason: format!("over the limit of {} concurrent requests", limits.max_concurrency.unwrap_or(0)),
                retry_after: Duration::from_secs(1),
            })?),
        };
        Ok(Admission { _permit: permit })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrency_is_bounded_and_released() {
        let quotas = Quotas::default();
        let limits = Limits { max_concurrency: Some(2), ..Limits::default() };
        let a = quotas.admit("t", &limits).unwrap();
        let _b = quotas.admit("t", &limits).unwrap();
        let refused = quotas.admit("t", &limits).err().unwrap();
        assert!(refused.reason.contains("2 concurrent"), "{refused:?}");
        assert!(quotas.admit("other", &limits).is_ok(), "tenants have separate slots");
        drop(a);
        assert!(quotas.admit("t", &limits).is_ok());
    }

    #[test]
    fn the_rate_allows_a_burst_then_refuses_with_a_retry_time() {
        let quotas = Quotas::default();
        let limits = Limits { requests_per_second: Some(1), burst: Some(3), ..Limits::default() };
        for _ in 0..3 {
            quotas.admit("t", &limits).unwrap();
        }
        let refused = quotas.admit("t", &limits).err().unwrap();
        assert!(refused.retry_after >= Duration::from_secs(1));
        assert!(quotas.admit("t", &Limits::default()).is_ok(), "no limit, no refusal");
    }
}
