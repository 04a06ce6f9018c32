//! Exponential backoff with jitter, kept apart from what it paces so that the
//! reconnect and watch loops stay plain and the timing is testable under
//! tokio's paused clock.

use std::time::Duration;

use rand::Rng;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BackoffConfig {
    pub initial: Duration,
    pub max: Duration,
    pub factor: f64,
    /// Each delay is scaled by a random factor in `[1 - jitter, 1 + jitter]`.
    pub jitter: f64,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig { initial: Duration::from_millis(250), max: Duration::from_secs(8), factor: 2.0, jitter: 0.25 }
    }
}

#[derive(Clone, Debug)]
pub struct Backoff {
    config: BackoffConfig,
    current: Duration,
}

impl Backoff {
    pub fn new(config: BackoffConfig) -> Self {
        Backoff { config, current: config.initial }
    }

    /// The next delay; each call grows the base delay up to `max`.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.current;
        self.current = base.mul_f64(self.config.factor).min(self.config.max);
        let j = self.config.jitter;
        let scale = if j > 0.0 { rand::thread_rng().gen_range(1.0 - j..=1.0 + j) } else { 1.0 };
        base.mul_f64(scale).min(self.config.max.mul_f64(1.0 + j))
    }

    /// Back to the initial delay (after a healthy period).
    pub fn reset(&mut self) {
        self.current = self.config.initial;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_cap_and_resets() {
        let cfg = BackoffConfig {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            factor: 2.0,
            jitter: 0.0,
        };
        let mut b = Backoff::new(cfg);
        let got: Vec<u128> = (0..6).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(got, vec![100, 200, 400, 800, 1000, 1000]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(100));
    }

    #[test]
    fn jitter_stays_in_bounds() {
        let cfg = BackoffConfig { jitter: 0.25, ..BackoffConfig::default() };
        for _ in 0..200 {
            let d = Backoff::new(cfg).next_delay();
            assert!(d >= cfg.initial.mul_f64(0.75) && d <= cfg.initial.mul_f64(1.25), "{d:?}");
        }
    }
}
