//! Human units in the config: durations (`30s`, `1h30m`), sizes (`25MiB`), rates (`10/s`, `5/15m`).

use std::time::Duration;

/// Parse a duration such as `250ms`, `30s`, `15m`, `1h30m`, `7d`. A bare number is rejected,
/// because `30` could mean seconds or milliseconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("empty duration; write e.g. `30s`, `250ms`, `15m`".into());
    }
    if t.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("`{t}` has no unit; write e.g. `{t}s` or `{t}ms`"));
    }
    humantime::parse_duration(t)
        .map_err(|e| format!("`{t}` is not a duration ({e}); write e.g. `30s`, `250ms`, `15m`"))
}

/// Parse a size in bytes: `512`, `64KB`, `10MiB`, `1.5GB`. Decimal (`KB` = 1000) and binary
/// (`KiB` = 1024) prefixes are both understood.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let unit = unit.trim();
    let num: f64 = num
        .parse()
        .map_err(|_| format!("`{t}` is not a size; write e.g. `10MiB`, `512KB`, `1024`"))?;
    let mult: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1 << 10,
        "m" | "mb" => 1000 * 1000,
        "mib" => 1 << 20,
        "g" | "gb" => 1000 * 1000 * 1000,
        "gib" => 1 << 30,
        other => {
            return Err(format!(
                "`{t}`: unknown size unit `{other}`; use B, KB, KiB, MB, MiB, GB or GiB"
            ))
        }
    };
    let bytes = num * mult as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(format!("`{t}` is out of range"));
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
pub fn parse_rate(s: &str) -> Result<Rate, String> {
    let t = s.trim();
    let Some((count, per)) = t.split_once('/') else {
        return Err(format!("`{t}` is not a rate; write e.g. `10/s` or `5/15m`"));
    };
    let count: u32 = count
        .trim()
        .parse()
        .map_err(|_| format!("`{t}`: `{count}` is not a whole number of requests"))?;
    if count == 0 {
        return Err(format!("`{t}`: a rate must allow at least one request"));
    }
    let per = per.trim();
    let period = if per.starts_with(|c: char| c.is_ascii_digit()) {
        parse_duration(per)
    } else {
        parse_duration(&format!("1{per}"))
    };
    let per = period.map_err(|_| {
        format!("`{t}`: `{per}` is not a period; write e.g. `10/s`, `100/m`, `1000/h` or `5/15m`")
    })?;
    if per.is_zero() {
        return Err(format!("`{t}`: the period must be longer than zero"));
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
        assert!(parse_duration("30").unwrap_err().contains("no unit"));
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
