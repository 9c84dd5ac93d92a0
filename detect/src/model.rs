//! What nvt needs to know about a model, read from the model and checked when it loads.

use crate::layout::{LayoutKind, OutputLayout};
use crate::{names, DetectError, InputLayout};
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
        let meta_names = custom("names").and_then(|text| names::parse_metadata(&text));

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
        let input_size = if height > 0 && width > 0 {
            (width as u32, height as u32)
        } else {
            let meta = custom("imgsz").and_then(|text| parse_imgsz(&text));
            let side = hints.imgsz.unwrap_or(DEFAULT_IMGSZ);
            meta.unwrap_or((side, side))
        };

        let known_classes = match (&meta_names, hints.labels) {
            (Some(names), _) => Some(names.len()),
            (None, Some(path)) => Some(count_lines(path)?),
            (None, None) => None,
        };
        let (output, layout) = pick_output(session, hints, known_classes)?;

        let classes = layout.classes().or(known_classes);
        let names = match (meta_names, hints.labels, classes) {
            (Some(names), _, _) => names,
            (None, Some(path), Some(n)) => names::read_labels(path, n)?,
            (None, Some(path), None) => names::read_labels(path, count_lines(path)?)?,
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
    let text = std::fs::read_to_string(path).map_err(|source| DetectError::LabelsRead { path: path.into(), source })?;
    Ok(text.trim_end().lines().count())
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
    fn hash_changes_with_content() {
        assert_ne!(content_hash(b"model a"), content_hash(b"model b"));
        assert_eq!(content_hash(b"same"), content_hash(b"same"));
    }
}
