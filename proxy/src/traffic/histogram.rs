//! A bounded-memory latency sketch: 160 buckets growing by 10 % from 100 µs (the last one
//! open-ended above ~7 min), so a quantile read from it is within 5 % of the true sample
//! (the bucket's geometric middle stands for every sample in it). Counting is one atomic add.

use std::sync::atomic::{AtomicU32, Ordering};

pub(crate) const BUCKETS: usize = 160;
const MIN: f64 = 1e-4;
const GROWTH: f64 = 1.1;

/// The bucket a duration in seconds falls in.
pub(crate) fn bucket(seconds: f64) -> usize {
    if seconds.is_nan() || seconds < MIN {
        return 0;
    }
    let i = 1.0 + ((seconds / MIN).ln() / GROWTH.ln()).floor();
    (i as usize).min(BUCKETS - 1)
}

/// The value that stands for every sample in bucket `i`.
fn representative(i: usize) -> f64 {
    match i {
        0 => MIN / 2.0,
        i if i == BUCKETS - 1 => MIN * GROWTH.powi(i as i32 - 1),
        i => MIN * GROWTH.powf(i as f64 - 0.5),
    }
}

/// Counts per bucket, written by many threads at once.
pub(crate) struct AtomicHistogram(Box<[AtomicU32]>);

impl AtomicHistogram {
    pub(crate) fn new() -> Self {
        AtomicHistogram((0..BUCKETS).map(|_| AtomicU32::new(0)).collect())
    }

    pub(crate) fn record(&self, seconds: f64) {
        self.0[bucket(seconds)].fetch_add(1, Ordering::Relaxed);
    }

    /// Add the counts to `into` and reset them to zero.
    pub(crate) fn drain_into(&self, into: &mut Histogram) {
        for (a, b) in self.0.iter().zip(into.0.iter_mut()) {
            *b += a.swap(0, Ordering::Relaxed);
        }
    }

    /// Add the counts to `into`, leaving them in place.
    pub(crate) fn add_into(&self, into: &mut Histogram) {
        for (a, b) in self.0.iter().zip(into.0.iter_mut()) {
            *b += a.load(Ordering::Relaxed);
        }
    }
}

/// Counts per bucket, owned by one reader.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Histogram(Box<[u32]>);

impl Histogram {
    pub(crate) fn new() -> Self {
        Histogram(vec![0; BUCKETS].into_boxed_slice())
    }

    pub(crate) fn add(&mut self, other: &Histogram) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a += b;
        }
    }

    pub(crate) fn count(&self) -> u64 {
        self.0.iter().map(|&c| u64::from(c)).sum()
    }

    /// The `q` quantile (0 < q <= 1) in seconds; `None` without samples.
    pub(crate) fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
        let mut seen = 0u64;
        for (i, &c) in self.0.iter().enumerate() {
            seen += u64::from(c);
            if seen >= rank {
                return Some(representative(i));
            }
        }
        Some(representative(BUCKETS - 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bucket_is_within_five_percent_of_its_samples() {
        for i in 1..BUCKETS - 1 {
            let lo = MIN * GROWTH.powi(i as i32 - 1);
            let hi = MIN * GROWTH.powi(i as i32);
            let r = representative(i);
            assert!(r >= lo && r < hi, "bucket {i}: {r} outside [{lo}, {hi})");
            assert!((r - lo) / lo <= 0.05 && (hi - r) / hi <= 0.05);
            // Samples just inside the bounds land in this bucket.
            assert_eq!(bucket(lo * 1.0001), i);
            assert_eq!(bucket(hi * 0.9999), i);
        }
        assert_eq!(bucket(0.0), 0);
        assert_eq!(bucket(f64::NAN), 0);
        assert_eq!(bucket(1e9), BUCKETS - 1);
    }

    #[test]
    fn quantiles_of_a_known_mix() {
        let h = AtomicHistogram::new();
        for _ in 0..90 {
            h.record(0.010);
        }
        for _ in 0..10 {
            h.record(1.0);
        }
        let mut hist = Histogram::new();
        h.add_into(&mut hist);
        assert_eq!(hist.count(), 100);
        let close = |got: Option<f64>, want: f64| {
            let got = got.expect("a value");
            assert!((got - want).abs() / want < 0.05, "{got} vs {want}");
        };
        close(hist.quantile(0.5), 0.010);
        close(hist.quantile(0.9), 0.010);
        close(hist.quantile(0.95), 1.0);
        close(hist.quantile(0.99), 1.0);
        let mut drained = Histogram::new();
        h.drain_into(&mut drained);
        assert_eq!(drained, hist);
        let mut empty = Histogram::new();
        h.add_into(&mut empty);
        assert_eq!(empty.count(), 0);
        assert_eq!(empty.quantile(0.5), None);
    }
}
