//! Parsers for the durations and sizes users write on the command line.

use std::time::Duration;

/// The longest duration any flag takes: added to a clock, anything near `Duration::MAX` would
/// overflow it.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// Parses `80ms`, `1.5s`, `2m`, `1h 30m`, or a bare number of seconds (`0.08`), up to a year.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let parsed = if let Ok(secs) = text.parse::<f64>() {
        Duration::try_from_secs_f64(secs).map_err(|_| format!("invalid duration {text:?}"))?
    } else if let Some(secs) = text.strip_suffix('s').and_then(|t| t.parse::<f64>().ok()) {
        Duration::try_from_secs_f64(secs).map_err(|_| format!("invalid duration {text:?}"))?
    } else {
        humantime::parse_duration(text)
            .map_err(|e| format!("invalid duration {text:?} ({e}); examples: 80ms, 1.5s, 2m"))?
    };
    if parsed > MAX_DURATION {
        return Err(format!("duration {text:?} is longer than a year"));
    }
    Ok(parsed)
}

/// A flag parser for durations from `min` to `max`.
pub fn duration_in(
    min: Duration,
    max: Duration,
) -> impl Fn(&str) -> Result<Duration, String> + Clone + Send + Sync + 'static {
    move |text| {
        let d = parse_duration(text)?;
        if d < min || d > max {
            return Err(format!("{text:?} is out of range: use {} to {}", show(min), show(max)));
        }
        Ok(d)
    }
}

/// A flag parser for byte counts from `min` to `max`.
pub fn bytes_in(min: usize, max: usize) -> impl Fn(&str) -> Result<usize, String> + Clone + Send + Sync + 'static {
    move |text| {
        let n = parse_bytes(text)?;
        if n < min || n > max {
            return Err(format!("{text:?} is out of range: use {min} to {max} bytes"));
        }
        Ok(n)
    }
}

/// A flag parser for finite numbers from `min` to `max` (NaN and infinities are refused).
pub fn number_in(min: f64, max: f64) -> impl Fn(&str) -> Result<f64, String> + Clone + Send + Sync + 'static {
    move |text| match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && (min..=max).contains(&v) => Ok(v),
        _ => Err(format!("{text:?} is not a number from {min} to {max}")),
    }
}

fn show(d: Duration) -> String {
    humantime::format_duration(d).to_string()
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
    fn out_of_range_values_are_errors_not_panics() {
        assert!(parse_duration("1e300").is_err());
        assert!(parse_duration("18446744073709551615").is_err());
        assert!(parse_duration("500000000000000h").is_err());
        assert!(parse_duration("nan").is_err() && parse_duration("inf").is_err());
        let stats = duration_in(Duration::from_millis(100), Duration::from_secs(3600));
        assert!(stats("0").is_err() && stats("0s").is_err() && stats("2h").is_err());
        assert_eq!(stats("5s"), Ok(Duration::from_secs(5)));
        let frame = bytes_in(1024, 1 << 30);
        assert!(frame("18446744073709551615").is_err() && frame("0").is_err());
        let fps = number_in(0.0, 1000.0);
        assert!(fps("1e-300").is_ok(), "in range; the caller decides what tiny means");
        assert!(fps("nan").is_err() && fps("inf").is_err() && fps("-1").is_err() && fps("1e300").is_err());
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
