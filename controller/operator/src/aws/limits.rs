//! Client-side rate limits, kept at or under the AWS quotas so orgops is throttled
//! rarely and never starves other users of the same account.

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// The share of a rate that background work (the start-up backlog and re-checks) may
/// take: the rest is kept for changes, which then never wait behind a saturated budget,
/// however long the background queue. The sweeps' shared snapshots, which changes wait
/// on too, are read at full priority.
pub const BACKGROUND_SHARE: f64 = 0.75;

tokio::task_local! {
    static BACKGROUND: bool;
}

/// Runs `work` as background work: its AWS calls take at most [`BACKGROUND_SHARE`] of
/// each rate limit.
pub async fn in_background<F: Future>(work: F) -> F::Output {
    BACKGROUND.scope(true, work).await
}

/// A token bucket: `rate` calls per second on average, bursts of up to `burst`; clones
/// share it.
#[derive(Clone)]
pub struct RateLimiter {
    interval: Duration,
    burst: u32,
    // The theoretical arrival time of the next call (GCRA).
    next: Arc<Mutex<Option<Instant>>>,
    // The same for background work, at BACKGROUND_SHARE of the rate, passed before `next`.
    background_next: Arc<Mutex<Option<Instant>>>,
}

impl RateLimiter {
    /// `rate` calls per second, bursts of `burst`.
    pub fn per_second(rate: f64, burst: u32) -> Self {
        assert!(rate > 0.0 && burst > 0, "a rate limit needs a positive rate and burst");
        RateLimiter {
            interval: Duration::from_secs_f64(1.0 / rate),
            burst,
            next: Arc::new(Mutex::new(None)),
            background_next: Arc::new(Mutex::new(None)),
        }
    }

    /// Waits until a call is allowed: background work first waits for its share.
    pub async fn acquire(&self) {
        if BACKGROUND.try_with(|background| *background).unwrap_or(false) {
            let slower = self.interval.div_f64(BACKGROUND_SHARE);
            tokio::time::sleep_until(Self::take(&self.background_next, slower, self.burst).await).await;
        }
        tokio::time::sleep_until(Self::take(&self.next, self.interval, self.burst).await).await;
    }

    /// Takes the next slot of a bucket; returns when it may be used.
    async fn take(next: &Mutex<Option<Instant>>, interval: Duration, burst: u32) -> Instant {
        let mut next = next.lock().await;
        let now = Instant::now();
        let tat = next.map_or(now, |t| t.max(now));
        let tolerance = interval * (burst - 1);
        let allowed_at = tat.checked_sub(tolerance).unwrap_or(now).max(now);
        *next = Some(tat + interval);
        allowed_at
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

    #[tokio::test(start_paused = true)]
    async fn a_change_finds_room_however_long_the_background_queue() {
        let limiter = RateLimiter::per_second(4.0, 1);
        let background = limiter.clone();
        // A hundred background calls queue up at once.
        let queue = tokio::spawn(in_background(async move {
            for _ in 0..100 {
                background.acquire().await;
            }
        }));
        tokio::time::sleep(Duration::from_secs(5)).await;
        let start = Instant::now();
        limiter.acquire().await;
        assert!(start.elapsed() <= Duration::from_millis(250), "waited {:?} behind the backlog", start.elapsed());
        queue.abort();
    }
}
