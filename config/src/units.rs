//! Human units in the config: durations (`30s`, `1h30m`), sizes (`25MiB`), rates (`10/s`, `5/15m`).

use std::time::Duration;

/// A duration, size or rate that could not be read: what was written, and how to write it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    /// Nothing was written.
    #[error("empty duration; write e.g. `30s`, `250ms`, `15m`")]
    EmptyDuration,
    /// A bare number, which could mean seconds or milliseconds.
    #[error("`{0}` has no unit; write e.g. `{0}s` or `{0}ms`")]
    NoUnit(String),
    /// Not a duration.
    #[error("`{text}` is not a duration ({reason}); write e.g. `30s`, `250ms`, `15m`")]
    Duration {
        /// As written.
        text: String,
        /// Why not.
        reason: String,
    },
    /// Not a size.
    #[error("`{0}` is not a size; write e.g. `10MiB`, `512KB`, `1024`")]
    Size(String),
    /// A size with a unit that is not one.
    #[error("`{text}`: unknown size unit `{unit}`; use B, KB, KiB, MB, MiB, GB or GiB")]
    SizeUnit {
        /// As written.
        text: String,
        /// The unknown unit.
        unit: String,
    },
    /// A size beyond `u64`.
    #[error("`{0}` is out of range")]
    SizeRange(String),
    /// Not `COUNT/PERIOD`.
    #[error("`{0}` is not a rate; write e.g. `10/s` or `5/15m`")]
    Rate(String),
    /// The count of a rate is not a whole number.
    #[error("`{text}`: `{count}` is not a whole number of requests")]
    RateCount {
        /// As written.
        text: String,
        /// The count part.
        count: String,
    },
    /// A rate of zero.
    #[error("`{0}`: a rate must allow at least one request")]
    RateZero(String),
    /// The period of a rate is not a duration.
    #[error("`{text}`: `{per}` is not a period; write e.g. `10/s`, `100/m`, `1000/h` or `5/15m`")]
    RatePeriod {
        /// As written.
        text: String,
        /// The period part.
        per: String,
    },
    /// A period of zero.
    #[error("`{0}`: the period must be longer than zero")]
    RatePeriodZero(String),
}

/// Parse a duration such as `250ms`, `30s`, `15m`, `1h30m`, `7d`. A bare number is rejected,
/// because `30` could mean seconds or milliseconds.
pub fn parse_duration(s: &str) -> Result<Duration, UnitError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(UnitError::EmptyDuration);
    }
    if t.chars().all(|c| c.is_ascii_digit()) {
        return Err(UnitError::NoUnit(t.to_string()));
    }
    humantime::parse_duration(t).map_err(|e| UnitError::Duration {
        text: t.to_string(),
        reason: e.to_string(),
    })
}

/// Parse a size in bytes: `512`, `64KB`, `10MiB`, `1.5GB`. Decimal (`KB` = 1000) and binary
/// (`KiB` = 1024) prefixes are both understood.
pub fn parse_size(s: &str) -> Result<u64, UnitError> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let unit = unit.trim();
    let num: f64 = num.parse().map_err(|_| UnitError::Size(t.to_string()))?;
    let mult: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1 << 10,
        "m" | "mb" => 1000 * 1000,
        "mib" => 1 << 20,
        "g" | "gb" => 1000 * 1000 * 1000,
        "gib" => 1 << 30,
        other => {
            return Err(UnitError::SizeUnit {
                text: t.to_string(),
                unit: other.to_string(),
            })
        }
    };
    let bytes = num * mult as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(UnitError::SizeRange(t.to_string()));
    }
    Ok(bytes.round() as u64)
}

/// A rate: `count` events per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Events allowed per period.
    pub count: u32,
    /// The period.
    pub per: Duration,
}

/// Parse a rate such as `10/s`, `100/m`, `5/15m`, `1000/h`.
pub fn parse_rate(s: &str) -> Result<Rate, UnitError> {
    let t = s.trim();
    let Some((count, per)) = t.split_once('/') else {
        return Err(UnitError::Rate(t.to_string()));
    };
    let count: u32 = count.trim().parse().map_err(|_| UnitError::RateCount {
        text: t.to_string(),
        count: count.to_string(),
    })?;
    if count == 0 {
        return Err(UnitError::RateZero(t.to_string()));
    }
    let per = per.trim();
    let period = if per.starts_with(|c: char| c.is_ascii_digit()) {
        parse_duration(per)
    } else {
        parse_duration(&format!("1{per}"))
    };
    let per = period.map_err(|_| UnitError::RatePeriod {
        text: t.to_string(),
        per: per.to_string(),
    })?;
    if per.is_zero() {
        return Err(UnitError::RatePeriodZero(t.to_string()));
    }
    Ok(Rate { count, per })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert!(parse_duration("30")
            .unwrap_err()
            .to_string()
            .contains("no unit"));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("10MiB"), Ok(10 << 20));
        assert_eq!(parse_size("25 MB"), Ok(25_000_000));
        assert_eq!(parse_size("1.5KiB"), Ok(1536));
        assert!(parse_size("10XB")
            .unwrap_err()
            .to_string()
            .contains("unknown size unit"));
        assert!(parse_size("MiB").is_err());
    }

    #[test]
    fn rates() {
        assert_eq!(
            parse_rate("10/s"),
            Ok(Rate {
                count: 10,
                per: Duration::from_secs(1)
            })
        );
        assert_eq!(
            parse_rate("5/15m"),
            Ok(Rate {
                count: 5,
                per: Duration::from_secs(900)
            })
        );
        assert!(parse_rate("0/s").is_err());
        assert!(parse_rate("ten/s").is_err());
        assert!(parse_rate("10").is_err());
    }
}
