//! Client-side rate limits, kept at or under the AWS quotas so orgops is throttled
//! rarely and never starves other users of the same account.

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// A token bucket: `rate` calls per second on average, bursts of up to `burst`.
#[derive(Clone)]
pub struct RateLimiter {
    interval: Duration,
    burst: u32,
    // The theoretical arrival time of the next call (GCRA).
    next: Arc<Mutex<Option<Instant>>>,
}

impl RateLimiter {
    /// `rate` calls per second, bursts of `burst`.
    pub fn per_second(rate: f64, burst: u32) -> Self {
        assert!(rate > 0.0 && burst > 0, "a rate limit needs a positive rate and burst");
        RateLimiter { interval: Duration::from_secs_f64(1.0 / rate), burst, next: Arc::new(Mutex::new(None)) }
    }

    /// Waits until a call is allowed.
    pub async fn acquire(&self) {
        let wait_until = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let tat = next.map_or(now, |t| t.max(now));
            let tolerance = self.interval * (self.burst - 1);
            let allowed_at = tat.checked_sub(tolerance).unwrap_or(now).max(now);
            *next = Some(tat + self.interval);
            allowed_at
        };
        tokio::time::sleep_until(wait_until).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn allows_a_burst_then_spaces_calls() {
        let limiter = RateLimiter::per_second(2.0, 3);
        let start = Instant::now();
        for _ in 0..3 {
            limiter.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "the burst is immediate");
        limiter.acquire().await;
        limiter.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_secs(1), "then one call per 500 ms");
    }
}
