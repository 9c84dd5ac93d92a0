//! The largest sizes nvt takes from a model file or a flag. A model is a file from anywhere: every
//! count and size it declares is checked against these before anything is allocated by it.

use crate::error::DetectError;

/// Most classes a model may have (COCO has 80, Objects365 365, LVIS 1203).
pub const MAX_CLASSES: usize = 10_000;

/// Longest class name, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// Largest input side in pixels: a 4096x4096 float tensor is 192 MiB, already far past what
/// detectors are trained at (640 to 1536).
pub const MAX_INPUT_SIDE: u32 = 4096;

/// Smallest input side: below this nothing is left to detect, and strides do not divide it.
pub const MIN_INPUT_SIDE: u32 = 32;

/// Checks one input side, from the model's fixed shape, its metadata or `--imgsz`.
pub fn input_side(what: &'static str, side: i64) -> Result<u32, DetectError> {
    match u32::try_from(side) {
        Ok(side) if (MIN_INPUT_SIDE..=MAX_INPUT_SIDE).contains(&side) => Ok(side),
        _ => Err(DetectError::OutOfBounds {
            what,
            found: side.to_string(),
            bound: format!("{MIN_INPUT_SIDE} to {MAX_INPUT_SIDE} pixels"),
        }),
    }
}

/// Checks a class count, from the output's shape or a labels file.
pub fn classes(what: &'static str, count: usize) -> Result<usize, DetectError> {
    if count > MAX_CLASSES {
        return Err(DetectError::OutOfBounds {
            what,
            found: count.to_string(),
            bound: format!("at most {MAX_CLASSES}"),
        });
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_and_counts_out_of_bounds_are_errors() {
        assert_eq!(input_side("the input width", 640).expect("ok"), 640);
        for bad in [0, 31, 4097, -1, i64::MAX, i64::MIN] {
            let error = input_side("the input width", bad).expect_err("bad");
            assert!(error.to_string().contains("the input width is"), "{error}");
        }
        assert!(classes("classes", MAX_CLASSES).is_ok());
        assert!(classes("classes", MAX_CLASSES + 1).is_err());
    }
}
