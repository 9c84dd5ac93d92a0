//! What nvt needs to know about a model, read from the model and checked when it loads.

use crate::error::DetectError;
use crate::layout::{LayoutKind, OutputLayout};
use crate::letterbox::InputLayout;
use crate::{bounds, names};
use ort::session::Session;
use ort::value::{TensorElementType, ValueType};
use std::path::Path;

/// Default input size for models whose height and width are dynamic and say nothing else.
pub const DEFAULT_IMGSZ: u32 = 640;

/// The facts of a loaded model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// File name plus a short content hash, e.g. `shapes.onnx@3fa9c2e1`; it changes when the
    /// model changes.
    pub id: String,
    /// Name of the image input.
    pub input_name: String,
    /// Input (width, height) in pixels.
    pub input_size: (u32, u32),
    /// Channels first (NCHW) or last (NHWC), from the input's shape.
    pub input_layout: InputLayout,
    /// Name of the detection output.
    pub output_name: String,
    /// How the output is laid out.
    pub layout: OutputLayout,
    /// One name per class.
    pub names: Vec<String>,
}

/// What the user may tell about a model that it does not say itself.
#[derive(Debug, Clone, Default)]
pub struct Hints<'a> {
    /// `--imgsz`: input size for dynamic height and width.
    pub imgsz: Option<u32>,
    /// `--labels`: class names, one per line.
    pub labels: Option<&'a Path>,
    /// `--layout`: the output layout, when the shape is ambiguous.
    pub layout: Option<LayoutKind>,
    /// `--output`: the detection output's name, for models with several outputs.
    pub output: Option<&'a str>,
}

impl ModelInfo {
    /// Reads and checks the facts of `session`, loaded from `path` whose bytes hash to `hash`.
    pub fn read(session: &Session, path: &Path, hash: u64, hints: &Hints<'_>) -> Result<Self, DetectError> {
        let metadata = session.metadata().ok();
        let custom = |key: &str| metadata.as_ref().and_then(|m| m.custom(key));
        // Names from `--labels` win over the model's own; the model's are only read without it.
        let meta_names = match (hints.labels, custom("names")) {
            (None, Some(text)) => Some(names::parse_metadata(&text)?),
            _ => None,
        };

        let input = session
            .inputs()
            .first()
            .ok_or_else(|| DetectError::Input { name: String::new(), found: "a model without inputs".into() })?;
        let input_shape = match input.dtype() {
            ValueType::Tensor { ty: TensorElementType::Float32, shape, .. } if shape.len() == 4 && shape[0] <= 1 => {
                shape.to_vec()
            }
            other => return Err(DetectError::Input { name: input.name().to_owned(), found: describe(other) }),
        };
        let (input_layout, height, width) = match input_shape[..] {
            [_, 3, h, w] => (InputLayout::Nchw, h, w),
            [_, h, w, 3] => (InputLayout::Nhwc, h, w),
            _ => return Err(DetectError::Input { name: input.name().to_owned(), found: describe(input.dtype()) }),
        };
        let input_size = input_size(height, width, hints.imgsz, custom("imgsz").as_deref())?;

        let known_classes = match (hints.labels, &meta_names) {
            (Some(path), _) => Some(count_lines(path)?),
            (None, Some(names)) => Some(names.len()),
            (None, None) => None,
        };
        if known_classes == Some(0) {
            return Err(DetectError::Metadata { key: "names", problem: "the model names no classes".into() });
        }
        let (output, layout) = pick_output(session, hints, known_classes)?;

        let classes =
            layout.classes().or(known_classes).map(|n| bounds::classes("the model's class count", n)).transpose()?;
        let names = match (hints.labels, meta_names, classes) {
            (Some(path), _, Some(n)) => names::read_labels(path, n)?,
            (Some(path), _, None) => names::read_labels(path, count_lines(path)?)?,
            (None, Some(names), _) => names,
            (None, None, Some(n)) => names::fallback(n),
            (None, None, None) => Vec::new(),
        };
        let file = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        Ok(Self {
            id: format!("{file}@{:08x}", hash >> 32),
            input_name: input.name().to_owned(),
            input_size,
            output_name: output,
            layout,
            input_layout,
            names,
        })
    }

    /// The name of class `class_id` (its number when the model has no name for it).
    pub fn label(&self, class_id: usize) -> String {
        self.names.get(class_id).cloned().unwrap_or_else(|| class_id.to_string())
    }
}

/// The detection output: the one named by `--output`, else the first whose shape is a layout
/// nvt decodes (models may have other outputs, such as features or masks).
fn pick_output(
    session: &Session,
    hints: &Hints<'_>,
    classes: Option<usize>,
) -> Result<(String, OutputLayout), DetectError> {
    let shape_of = |o: &ort::value::Outlet| match o.dtype() {
        ValueType::Tensor { ty: TensorElementType::Float32, shape, .. } => shape.to_vec(),
        _ => Vec::new(),
    };
    let outputs = session.outputs();
    if let Some(name) = hints.output {
        let output = outputs.iter().find(|o| o.name() == name).ok_or_else(|| DetectError::NoSuchOutput {
            name: name.to_owned(),
            outputs: outputs.iter().map(|o| o.name().to_owned()).collect(),
        })?;
        let layout = OutputLayout::detect(output.name(), &shape_of(output), classes, hints.layout)?;
        return Ok((output.name().to_owned(), layout));
    }
    let mut first_error = None;
    for output in outputs {
        match OutputLayout::detect(output.name(), &shape_of(output), classes, hints.layout) {
            Ok(layout) => return Ok((output.name().to_owned(), layout)),
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
    }
    Err(first_error.unwrap_or(DetectError::UnsupportedLayout {
        name: String::new(),
        shape: Vec::new(),
        hint: " (the model has no outputs)".into(),
    }))
}

/// The input (width, height): `--imgsz` when given (a model with a fixed input must already be
/// that size), else the fixed input shape, else the `imgsz` metadata, else [`DEFAULT_IMGSZ`].
/// Every size is checked against [`bounds`] before anything is allocated by it.
fn input_size(height: i64, width: i64, flag: Option<u32>, metadata: Option<&str>) -> Result<(u32, u32), DetectError> {
    let fixed = height > 0 || width > 0;
    if fixed {
        let size = (
            bounds::input_side("the model's input width", width)?,
            bounds::input_side("the model's input height", height)?,
        );
        return match flag {
            Some(asked) if (asked, asked) != size => {
                Err(DetectError::ImgszConflict { asked, width: size.0, height: size.1 })
            }
            _ => Ok(size),
        };
    }
    if let Some(side) = flag {
        let side = bounds::input_side("--imgsz", side.into())?;
        return Ok((side, side));
    }
    match metadata {
        Some(text) => {
            let (w, h) = parse_imgsz(text).ok_or_else(|| DetectError::Metadata {
                key: "imgsz",
                problem: format!("{text:?} is not [height, width], [side] or side"),
            })?;
            Ok((
                bounds::input_side("the model's imgsz width", w.into())?,
                bounds::input_side("the model's imgsz height", h.into())?,
            ))
        }
        None => Ok((DEFAULT_IMGSZ, DEFAULT_IMGSZ)),
    }
}

/// `imgsz` metadata: `[640, 640]` (height, width), `[640]` or `640`.
fn parse_imgsz(text: &str) -> Option<(u32, u32)> {
    let numbers: Vec<u32> = text
        .trim_matches(|c| matches!(c, '[' | ']' | '(' | ')') || char::is_whitespace(c))
        .split(',')
        .map(|n| n.trim().parse().ok())
        .collect::<Option<_>>()?;
    match numbers[..] {
        [side] if side > 0 => Some((side, side)),
        [height, width] if height > 0 && width > 0 => Some((width, height)),
        _ => None,
    }
}

fn count_lines(path: &Path) -> Result<usize, DetectError> {
    let text = crate::model_file::read_labels(path)?;
    bounds::classes("the labels file's line count", text.trim_end().lines().count())
}

fn describe(ty: &ValueType) -> String {
    match ty {
        ValueType::Tensor { ty, shape, .. } => format!("a {ty:?} tensor of shape {:?}", shape.to_vec()),
        other => format!("{other:?}"),
    }
}

/// FNV-1a over the model's bytes: a short, stable id for logs.
pub fn content_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imgsz_metadata_forms() {
        assert_eq!(parse_imgsz("[640, 640]"), Some((640, 640)));
        assert_eq!(parse_imgsz("[480, 640]"), Some((640, 480)), "height first, as Ultralytics writes it");
        assert_eq!(parse_imgsz("320"), Some((320, 320)));
        assert_eq!(parse_imgsz("[0, 640]"), None);
        assert_eq!(parse_imgsz("big"), None);
    }

    #[test]
    fn the_imgsz_flag_wins_then_the_fixed_shape_then_metadata_then_640() {
        assert_eq!(input_size(-1, -1, Some(640), Some("[320, 320]")).expect("flag"), (640, 640));
        assert_eq!(input_size(-1, -1, None, Some("[320, 480]")).expect("metadata"), (480, 320));
        assert_eq!(input_size(-1, -1, None, None).expect("default"), (DEFAULT_IMGSZ, DEFAULT_IMGSZ));
        assert_eq!(input_size(480, 640, None, Some("[320, 320]")).expect("fixed"), (640, 480));
        assert_eq!(input_size(640, 640, Some(640), None).expect("the same size"), (640, 640));
        let error = input_size(640, 640, Some(320), None).expect_err("a fixed model cannot take another size");
        assert!(matches!(error, DetectError::ImgszConflict { asked: 320, width: 640, height: 640 }), "{error}");
    }

    #[test]
    fn sizes_from_a_model_or_a_flag_are_bounded() {
        for (height, width, flag, metadata) in [
            (1 << 40, 1 << 40, None, None),
            (100_000, 640, None, None),
            (640, -1, None, None),
            (-1, -1, Some(100_000), None),
            (-1, -1, Some(0), None),
            (-1, -1, None, Some("[100000, 100000]")),
            (-1, -1, None, Some("[1, 1]")),
            (-1, -1, None, Some("huge")),
        ] {
            let error = input_size(height, width, flag, metadata).expect_err("out of bounds");
            assert!(
                matches!(error, DetectError::OutOfBounds { .. } | DetectError::Metadata { .. }),
                "{height}x{width} {flag:?} {metadata:?}: {error}"
            );
        }
    }

    #[test]
    fn hash_changes_with_content() {
        assert_ne!(content_hash(b"model a"), content_hash(b"model b"));
        assert_eq!(content_hash(b"same"), content_hash(b"same"));
    }
}
