//! Class names: from the model's `names` metadata (as Ultralytics exports write it), from a
//! labels file, or the 80 COCO names for an 80-class model.

use crate::bounds::{MAX_CLASSES, MAX_NAME_CHARS};
use crate::error::DetectError;
use std::path::Path;

/// The 80 COCO class names, in the order COCO-trained YOLO models use.
pub const COCO: [&str; 80] = [
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "airplane",
    "bus",
    "train",
    "truck",
    "boat",
    "traffic light",
    "fire hydrant",
    "stop sign",
    "parking meter",
    "bench",
    "bird",
    "cat",
    "dog",
    "horse",
    "sheep",
    "cow",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "backpack",
    "umbrella",
    "handbag",
    "tie",
    "suitcase",
    "frisbee",
    "skis",
    "snowboard",
    "sports ball",
    "kite",
    "baseball bat",
    "baseball glove",
    "skateboard",
    "surfboard",
    "tennis racket",
    "bottle",
    "wine glass",
    "cup",
    "fork",
    "knife",
    "spoon",
    "bowl",
    "banana",
    "apple",
    "sandwich",
    "orange",
    "broccoli",
    "carrot",
    "hot dog",
    "pizza",
    "donut",
    "cake",
    "chair",
    "couch",
    "potted plant",
    "bed",
    "dining table",
    "toilet",
    "tv",
    "laptop",
    "mouse",
    "remote",
    "keyboard",
    "cell phone",
    "microwave",
    "oven",
    "toaster",
    "sink",
    "refrigerator",
    "book",
    "clock",
    "vase",
    "scissors",
    "teddy bear",
    "hair drier",
    "toothbrush",
];

/// Parses the `names` metadata: a Python dict literal (`{0: 'person', 1: "it's"}`), a JSON object
/// with string keys, or a JSON list. `None` when it is none of these; gaps in the numbering are
/// filled with the class number.
pub fn parse_metadata(text: &str) -> Result<Vec<String>, DetectError> {
    let bad = |problem: String| DetectError::Metadata { key: "names", problem };
    // Longer than the most names of the longest length could take: refused before it is parsed.
    let longest = MAX_CLASSES * (4 * MAX_NAME_CHARS + 16);
    if text.len() > longest {
        return Err(bad(format!("{} bytes, more than {MAX_CLASSES} names could take", text.len())));
    }
    let text = text.trim();
    let names = if let Ok(list) = serde_json::from_str::<Vec<String>>(text) {
        list
    } else {
        let mut entries = parse_dict(text).ok_or_else(|| bad("neither a list nor a {id: name} dict".into()))?;
        entries.sort_by_key(|(k, _)| *k);
        let count = match entries.last() {
            Some((last, _)) if *last < MAX_CLASSES => last + 1,
            Some((last, _)) => return Err(bad(format!("class id {last} is not below {MAX_CLASSES}"))),
            None => 0,
        };
        let mut names: Vec<String> = (0..count).map(|i| i.to_string()).collect();
        for (key, name) in entries {
            names[key] = name;
        }
        names
    };
    if names.len() > MAX_CLASSES {
        return Err(bad(format!("{} names, more than {MAX_CLASSES}", names.len())));
    }
    if let Some(long) = names.iter().find(|n| n.chars().count() > MAX_NAME_CHARS) {
        return Err(bad(format!("a name of {} characters, more than {MAX_NAME_CHARS}", long.chars().count())));
    }
    Ok(names)
}

/// `{int: 'str', ...}` with either quote, backslash escapes, and optionally quoted keys.
fn parse_dict(text: &str) -> Option<Vec<(usize, String)>> {
    let mut chars = text.strip_prefix('{')?.strip_suffix('}')?.chars().peekable();
    let mut entries = Vec::new();
    loop {
        skip_space(&mut chars);
        if chars.peek().is_none() {
            return Some(entries);
        }
        let key = if matches!(chars.peek(), Some('"' | '\'')) {
            quoted(&mut chars)?.trim().parse().ok()?
        } else {
            let digits: String = std::iter::from_fn(|| chars.next_if(char::is_ascii_digit)).collect();
            if digits.is_empty() {
                return None;
            }
            // Past usize, an id is simply out of bounds: usize::MAX stands for it.
            digits.parse().unwrap_or(usize::MAX)
        };
        skip_space(&mut chars);
        (chars.next()? == ':').then_some(())?;
        skip_space(&mut chars);
        entries.push((key, quoted(&mut chars)?));
        skip_space(&mut chars);
        match chars.next() {
            Some(',') | None => {}
            Some(_) => return None,
        }
    }
}

fn skip_space(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while chars.next_if(|c| c.is_whitespace()).is_some() {}
}

fn quoted(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<String> {
    let quote = chars.next().filter(|c| matches!(c, '"' | '\''))?;
    let mut out = String::new();
    loop {
        match chars.next()? {
            '\\' => out.push(match chars.next()? {
                'n' => '\n',
                't' => '\t',
                other => other,
            }),
            c if c == quote => return Some(out),
            c => out.push(c),
        }
    }
}

/// Reads a labels file (one name per line; blank lines at the end ignored) and checks that it
/// names exactly `classes` classes.
pub fn read_labels(path: &Path, classes: usize) -> Result<Vec<String>, DetectError> {
    let text = crate::model_file::read_labels(path)?;
    crate::bounds::classes("the labels file's line count", classes)?;
    let mut names: Vec<String> = text.lines().map(|l| l.trim().to_owned()).collect();
    while names.last().is_some_and(String::is_empty) {
        names.pop();
    }
    if names.len() != classes {
        return Err(DetectError::LabelCount { path: path.into(), expected: classes, found: names.len() });
    }
    Ok(names)
}

/// Names when neither the model nor a labels file gives them: COCO for 80 classes, else numbers.
pub fn fallback(classes: usize) -> Vec<String> {
    if classes == COCO.len() {
        COCO.iter().map(|s| (*s).to_owned()).collect()
    } else {
        (0..classes).map(|i| i.to_string()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ultralytics_python_dict() {
        let names = parse_metadata("{0: 'person', 1: 'bicycle', 2: \"it's\", 3: 'a\\'b'}").expect("parses");
        assert_eq!(names, ["person", "bicycle", "it's", "a'b"]);
    }

    #[test]
    fn json_forms_and_gaps() {
        assert_eq!(parse_metadata(r#"["cat", "dog"]"#).expect("list"), ["cat", "dog"]);
        assert_eq!(parse_metadata(r#"{"0": "cat", "2": "dog"}"#).expect("dict"), ["cat", "1", "dog"]);
        assert_eq!(parse_metadata("{}").expect("empty"), Vec::<String>::new());
    }

    #[test]
    fn garbage_is_not_names() {
        for bad in ["", "names", "{0 'a'}", "{0: a}", "{0: 'a' 1: 'b'}", "{'x': 'a'}", "{0: 'unterminated}"] {
            let error = parse_metadata(bad).expect_err(bad);
            assert!(error.to_string().contains("neither a list nor"), "{bad}: {error}");
        }
    }

    #[test]
    fn hostile_ids_and_sizes_are_errors_not_panics() {
        for (bad, says) in [
            ("{0: 'a', 18446744073709551615: 'x'}", "class id 18446744073709551615"),
            ("{0: 'a', 99999999999999999999999: 'x'}", "class id"),
            ("{10000: 'a'}", "not below 10000"),
        ] {
            let error = parse_metadata(bad).expect_err(bad);
            assert!(error.to_string().contains(says), "{bad}: {error}");
        }
        let huge = format!("[{}]", vec!["\"a\""; 3_000_000].join(","));
        assert!(parse_metadata(&huge).expect_err("too long").to_string().contains("bytes, more than"));
        let many = serde_json::to_string(&vec!["a"; MAX_CLASSES + 1]).expect("json");
        assert!(parse_metadata(&many).expect_err("too many").to_string().contains("names, more than"));
        let long = format!("{{0: '{}'}}", "x".repeat(MAX_NAME_CHARS + 1));
        assert!(parse_metadata(&long).expect_err("too long").to_string().contains("characters"));
        assert_eq!(parse_metadata("{9999: 'last'}").expect("in bounds").len(), 10_000);
    }

    #[test]
    fn labels_file_must_match_the_class_count() {
        let dir = std::env::temp_dir().join(format!("nvt-labels-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("labels.txt");
        std::fs::write(&path, "cat\ndog\n\n").expect("write");
        assert_eq!(read_labels(&path, 2).expect("two"), ["cat", "dog"]);
        let error = read_labels(&path, 3).expect_err("count");
        assert!(error.to_string().contains("has 2 names but the model has 3 classes"), "{error}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn fallback_names() {
        assert_eq!(fallback(80)[0], "person");
        assert_eq!(fallback(2), ["0", "1"]);
    }
}
