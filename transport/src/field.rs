//! The fixed-width ASCII fields of the classic protocol.
//!
//! The original writes `str(value)` left-aligned and padded with spaces to the field width, never
//! truncated, and reads with Python's `int()` / `float()`, which skip surrounding white space.
//! We accept exactly what original peers emit (Python 3 `repr` floats, Python 2 `%.12g` floats,
//! space padding) and refuse everything else with a [`CodecError`].

use crate::error::CodecError;
use crate::refusal::Refusal;

/// Width of the timestamp, length and echo fields.
pub const FIELD_LEN: usize = 32;
/// Width of the fresh/stale flag.
pub const FLAG_LEN: usize = 1;
/// Width of the reply that follows a `'1'` flag.
pub const REPLY_LEN: usize = 1024;

/// A timestamp or echo field as it travels.
pub type Field = [u8; FIELD_LEN];

/// Left-aligns `value` in a field of `N` bytes, padded with spaces.
pub fn pad<const N: usize>(value: &[u8]) -> Result<[u8; N], CodecError> {
    if value.len() > N {
        return Err(CodecError::FieldTooLong { len: value.len(), width: N });
    }
    let mut field = [b' '; N];
    field[..value.len()].copy_from_slice(value);
    Ok(field)
}

/// The length field for a payload of `len` bytes.
pub fn length_field(len: usize) -> Field {
    // A usize has at most 20 decimal digits, which always fits 32 bytes.
    let mut field = [b' '; FIELD_LEN];
    let digits = len.to_string();
    field[..digits.len()].copy_from_slice(digits.as_bytes());
    field
}

/// The timestamp field for `secs` seconds since the Unix epoch, written as Python 3's `repr`
/// would (shortest text that reads back to the same float).
pub fn timestamp_field(secs: f64) -> Field {
    let text = format!("{secs}");
    let mut field = [b' '; FIELD_LEN];
    let n = text.len().min(FIELD_LEN);
    field[..n].copy_from_slice(&text.as_bytes()[..n]);
    field
}

/// Parses a length field: a decimal integer in `1..=max`, surrounded by optional white space.
pub fn parse_length(field: &[u8], max: usize) -> Result<usize, CodecError> {
    let text = trimmed(field, "length")?;
    let shown = || String::from_utf8_lossy(field).trim_end().to_owned();
    let (negative, digits) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(CodecError::BadLength(shown()));
    }
    if negative {
        return Err(if digits.iter().all(|&d| d == b'0') {
            CodecError::ZeroLength
        } else {
            CodecError::NegativeLength(shown())
        });
    }
    let len = digits.iter().try_fold(0u64, |acc, &d| acc.checked_mul(10)?.checked_add(u64::from(d - b'0')));
    match len {
        None => Err(CodecError::FrameTooLarge { len: u64::MAX, max }),
        Some(0) => Err(CodecError::ZeroLength),
        Some(len) if len > max as u64 => Err(CodecError::FrameTooLarge { len, max }),
        Some(len) => Ok(len as usize),
    }
}

/// Parses a timestamp field: a finite, non-negative decimal number of seconds.
pub fn parse_timestamp(field: &[u8]) -> Result<f64, CodecError> {
    let text = trimmed(field, "timestamp")?;
    let bad = || CodecError::BadTimestamp(String::from_utf8_lossy(field).trim_end().to_owned());
    // Only digits, one sign, a point and an exponent: Rust would otherwise also read "inf"/"nan".
    if !text.iter().all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-')) {
        return Err(bad());
    }
    let value: f64 = std::str::from_utf8(text).ok().and_then(|t| t.parse().ok()).ok_or_else(bad)?;
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(bad())
    }
}

/// The field without the white space Python's `int()`/`float()` would skip; NUL is refused.
fn trimmed<'a>(field: &'a [u8], name: &'static str) -> Result<&'a [u8], CodecError> {
    if field.contains(&0) {
        return Err(CodecError::NulInField(name));
    }
    let is_space = |c: &u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
    let start = field.iter().position(|c| !is_space(c)).unwrap_or(field.len());
    let end = field.iter().rposition(|c| !is_space(c)).map_or(start, |i| i + 1);
    Ok(&field[start..end])
}

impl Refusal {
    /// The field that carries the refusal: `!`, the reason word, space padded.
    pub fn field(&self) -> Field {
        let mut field = [b' '; FIELD_LEN];
        field[0] = b'!';
        let word = self.word().as_bytes();
        let n = word.len().min(FIELD_LEN - 1);
        field[1..=n].copy_from_slice(&word[..n]);
        field
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_that_fills_the_field_exactly_fits_and_one_byte_more_does_not() {
        assert_eq!(pad::<4>(b"abcd").expect("fits"), *b"abcd");
        assert_eq!(pad::<4>(b"ab").expect("padded"), *b"ab  ");
        assert!(pad::<4>(b"abcde").is_err());
    }

    const MAX: usize = 8 << 20;

    #[test]
    fn golden_length_field_from_a_real_run() {
        let field = length_field(196_400);
        assert_eq!(&field[..6], b"196400");
        assert!(field[6..].iter().all(|&c| c == b' '));
        assert_eq!(parse_length(&field, MAX), Ok(196_400));
    }

    #[test]
    fn golden_timestamp_field_matches_python_repr() {
        let field = timestamp_field(1_795_698_744.604_022_7);
        assert_eq!(&field[..18], b"1795698744.6040227");
        assert!(field[18..].iter().all(|&c| c == b' '));
        assert_eq!(parse_timestamp(&field), Ok(1_795_698_744.604_022_7));
    }

    #[test]
    fn python2_and_exponent_forms_parse() {
        assert_eq!(parse_timestamp(b"1795698744.6                    "), Ok(1_795_698_744.6));
        assert_eq!(parse_timestamp(b"1.79569874460e+09"), Ok(1_795_698_744.6));
        assert_eq!(parse_timestamp(b"  1795698744  \t"), Ok(1_795_698_744.0));
    }

    #[test]
    fn lengths_that_are_refused() {
        let cases: [(&[u8], CodecError); 7] = [
            (b"-5", CodecError::NegativeLength("-5".into())),
            (b"abc", CodecError::BadLength("abc".into())),
            (b"12.5", CodecError::BadLength("12.5".into())),
            (b"   ", CodecError::BadLength(String::new())),
            (b"0", CodecError::ZeroLength),
            (b"9999999999", CodecError::FrameTooLarge { len: 9_999_999_999, max: MAX }),
            (b"123\0\0\0", CodecError::NulInField("length")),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_length(input, MAX), Err(expected), "{input:?}");
        }
        let huge = [b'9'; 32];
        assert_eq!(parse_length(&huge, MAX), Err(CodecError::FrameTooLarge { len: u64::MAX, max: MAX }));
        assert_eq!(parse_length(b"+42 \n", MAX), Ok(42));
    }

    #[test]
    fn timestamps_that_are_refused() {
        for bad in [&b"nan"[..], b"inf", b"-inf", b"NaN", b"infinity", b"-1.5", b"garbage", b"", b"1.5\0", b"1e999"] {
            assert!(parse_timestamp(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn fields_are_never_truncated() {
        assert!(pad::<4>(b"12345").is_err());
        assert_eq!(pad::<4>(b"ok"), Ok(*b"ok  "));
    }
}
