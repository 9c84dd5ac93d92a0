//! Parsers for the durations and sizes users write on the command line.

use std::time::Duration;

/// Parses `80ms`, `1.5s`, `2m`, `1h 30m`, or a bare number of seconds (`0.08`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).map_err(|_| format!("invalid duration {text:?}"));
    }
    if let Some(secs) = text.strip_suffix('s').and_then(|t| t.parse::<f64>().ok()) {
        return Duration::try_from_secs_f64(secs).map_err(|_| format!("invalid duration {text:?}"));
    }
    humantime::parse_duration(text).map_err(|e| format!("invalid duration {text:?} ({e}); examples: 80ms, 1.5s, 2m"))
}

/// Parses a byte count: `8388608`, `512KiB`, `8MiB`, `8MB`, `1GiB`.
pub fn parse_bytes(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: usize = digits.parse().map_err(|_| format!("invalid size {text:?}; examples: 8MiB, 500000"))?;
    let scale: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        other => return Err(format!("unknown unit {other:?} in {text:?}; use B, KiB, MiB or GiB")),
    };
    n.checked_mul(scale).ok_or_else(|| format!("size {text:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_the_forms_users_write() {
        assert_eq!(parse_duration("80ms"), Ok(Duration::from_millis(80)));
        assert_eq!(parse_duration("0.08"), Ok(Duration::from_millis(80)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn sizes_in_the_forms_users_write() {
        assert_eq!(parse_bytes("8MiB"), Ok(8 << 20));
        assert_eq!(parse_bytes("500000"), Ok(500_000));
        assert_eq!(parse_bytes("2 KB"), Ok(2000));
        assert!(parse_bytes("8 parsecs").is_err());
        assert!(parse_bytes("99999999999999999999GiB").is_err());
    }
}
