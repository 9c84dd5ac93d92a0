//! Which detections become objects, per camera and label, in Frigate's terms: the labels to
//! track (`objects.track`) and each label's filter (`objects.filters.<label>`: `min_score`,
//! `threshold`, `min_area`, `max_area`, `min_ratio`, `max_ratio`), with Frigate's defaults.
//!
//! A filter is resolved from the most specific setting given: camera and label, then camera
//! (any label), then label (any camera), then the global flags.

use std::collections::{BTreeMap, BTreeSet};

/// One label's filter. Areas are pixels, or a fraction of the frame when below 1 (as Frigate
/// takes a float between 0.01 and 0.99).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Filter {
    /// A detection scoring below this is dropped before tracking (Frigate: 0.5).
    pub min_score: f32,
    /// The median of an object's recent scores it needs to be a true positive (Frigate: 0.7).
    pub threshold: f32,
    /// Smallest box area.
    pub min_area: f64,
    /// Largest box area.
    pub max_area: f64,
    /// Narrowest box: width / height.
    pub min_ratio: f64,
    /// Widest box: width / height.
    pub max_ratio: f64,
}

impl Default for Filter {
    fn default() -> Self {
        Self {
            min_score: 0.5,
            threshold: 0.7,
            min_area: 0.0,
            max_area: 24_000_000.0,
            min_ratio: 0.0,
            max_ratio: 24_000_000.0,
        }
    }
}

/// A partial filter: the keys one `--filter` names.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FilterPatch {
    min_score: Option<f32>,
    threshold: Option<f32>,
    min_area: Option<f64>,
    max_area: Option<f64>,
    min_ratio: Option<f64>,
    max_ratio: Option<f64>,
}

/// Why a filter setting cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FilterError {
    /// Not `CAMERA:LABEL:KEY=VALUE[,KEY=VALUE...]`.
    #[error("--filter {0:?}: use CAMERA:LABEL:KEY=VALUE[,KEY=VALUE...], '*' for any camera or label, such as '*:person:min_score=0.6'")]
    Form(String),
    /// An unknown key.
    #[error("--filter: unknown key {0:?}: use min_score, threshold, min_area, max_area, min_ratio or max_ratio")]
    Key(String),
    /// A value out of range.
    #[error("--filter: {key}={value:?} is out of range ({range})")]
    Value {
        /// The key.
        key: String,
        /// The value given.
        value: String,
        /// What it may be.
        range: &'static str,
    },
    /// A camera name that is not one.
    #[error("--filter: {0:?} is not a camera name (letters, digits, '_' and '-')")]
    Camera(String),
}

impl FilterPatch {
    /// Reads `KEY=VALUE[,KEY=VALUE...]`.
    pub fn parse(text: &str) -> Result<Self, FilterError> {
        let mut patch = Self::default();
        for pair in text.split(',') {
            let (key, value) = pair.split_once('=').ok_or_else(|| FilterError::Form(text.to_owned()))?;
            let (key, value) = (key.trim(), value.trim());
            let bad = |range| FilterError::Value { key: key.to_owned(), value: value.to_owned(), range };
            let number = value.parse::<f64>().ok().filter(|v| v.is_finite());
            match key {
                "min_score" | "threshold" => {
                    let v = number.filter(|v| (0.0..=1.0).contains(v)).ok_or_else(|| bad("0-1"))? as f32;
                    if key == "min_score" {
                        patch.min_score = Some(v);
                    } else {
                        patch.threshold = Some(v);
                    }
                }
                "min_area" | "max_area" | "min_ratio" | "max_ratio" => {
                    let v = number.filter(|v| *v >= 0.0 && *v <= 1e12).ok_or_else(|| bad("0 or more"))?;
                    match key {
                        "min_area" => patch.min_area = Some(v),
                        "max_area" => patch.max_area = Some(v),
                        "min_ratio" => patch.min_ratio = Some(v),
                        _ => patch.max_ratio = Some(v),
                    }
                }
                _ => return Err(FilterError::Key(key.to_owned())),
            }
        }
        Ok(patch)
    }

    /// Takes the keys `later` names, over this one's.
    fn merge(&mut self, later: &Self) {
        self.min_score = later.min_score.or(self.min_score);
        self.threshold = later.threshold.or(self.threshold);
        self.min_area = later.min_area.or(self.min_area);
        self.max_area = later.max_area.or(self.max_area);
        self.min_ratio = later.min_ratio.or(self.min_ratio);
        self.max_ratio = later.max_ratio.or(self.max_ratio);
    }

    fn apply(&self, filter: &mut Filter) {
        let set = |to: &mut f64, from: Option<f64>| {
            if let Some(v) = from {
                *to = v;
            }
        };
        if let Some(v) = self.min_score {
            filter.min_score = v;
        }
        if let Some(v) = self.threshold {
            filter.threshold = v;
        }
        set(&mut filter.min_area, self.min_area);
        set(&mut filter.max_area, self.max_area);
        set(&mut filter.min_ratio, self.min_ratio);
        set(&mut filter.max_ratio, self.max_ratio);
    }
}

/// Where a `--filter` applies: a camera or any (`None`), a label or any.
type Scope = (Option<String>, Option<String>);

/// Every camera's filters and tracked labels.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObjectFilters {
    global: Filter,
    patches: BTreeMap<Scope, FilterPatch>,
    /// Labels tracked on every camera; empty for all of the model's labels.
    track: BTreeSet<String>,
    /// Labels tracked on one camera, instead of `track`.
    track_by_camera: BTreeMap<String, BTreeSet<String>>,
}

impl ObjectFilters {
    /// Filters with `global` as every label's defaults.
    pub fn new(global: Filter) -> Self {
        Self { global, ..Self::default() }
    }

    /// Adds a `--filter CAMERA:LABEL:KEY=VALUE[,...]` (`*` for any camera or label; the label
    /// may itself hold `:`).
    pub fn add_filter(&mut self, spec: &str) -> Result<(), FilterError> {
        let form = || FilterError::Form(spec.to_owned());
        let (camera, rest) = spec.split_once(':').ok_or_else(form)?;
        let (label, settings) = rest.rsplit_once(':').ok_or_else(form)?;
        if label.is_empty() {
            return Err(form());
        }
        let camera = match camera {
            "*" => None,
            name if nvt_transport::protect::valid_name(name) => Some(name.to_owned()),
            name => return Err(FilterError::Camera(name.to_owned())),
        };
        let label = (label != "*").then(|| label.to_owned());
        let patch = FilterPatch::parse(settings)?;
        self.patches.entry((camera, label)).or_default().merge(&patch);
        Ok(())
    }

    /// The labels tracked on every camera (`--track-labels`); none means all.
    pub fn track(&mut self, labels: impl IntoIterator<Item = String>) {
        self.track = labels.into_iter().collect();
    }

    /// The labels tracked on `camera` (`--camera-labels CAMERA:A,B`), instead of the global set.
    pub fn track_on(&mut self, camera: &str, labels: impl IntoIterator<Item = String>) {
        self.track_by_camera.insert(camera.to_owned(), labels.into_iter().collect());
    }

    /// Whether `camera` tracks `label`.
    pub fn tracks(&self, camera: &str, label: &str) -> bool {
        let set = self.track_by_camera.get(camera).unwrap_or(&self.track);
        set.is_empty() || set.contains(label)
    }

    /// The filter of `label` on `camera`.
    pub fn filter(&self, camera: &str, label: &str) -> Filter {
        let mut filter = self.global;
        let (camera, label) = (Some(camera.to_owned()), Some(label.to_owned()));
        for scope in [(None, label.clone()), (camera.clone(), None), (camera, label)] {
            if let Some(patch) = self.patches.get(&scope) {
                patch.apply(&mut filter);
            }
        }
        filter
    }

    /// Whether a detection of `label` on `camera` passes: a tracked label, its score at least
    /// `min_score`, its box's area and ratio within bounds (`frame_area` turns fractional areas
    /// into pixels). As Frigate's `filtered`, the other way round.
    pub fn passes(&self, camera: &str, label: &str, score: f32, bbox: [f32; 4], frame_area: f64) -> bool {
        if !self.tracks(camera, label) {
            return false;
        }
        let filter = self.filter(camera, label);
        let (width, height) = (f64::from((bbox[2] - bbox[0]).max(0.0)), f64::from((bbox[3] - bbox[1]).max(0.0)));
        let area = width * height;
        let ratio = width / height.max(1.0);
        let pixels = |bound: f64| if bound > 0.0 && bound < 1.0 { bound * frame_area } else { bound };
        score >= filter.min_score
            && area >= pixels(filter.min_area)
            && area <= pixels(filter.max_area)
            && ratio >= filter.min_ratio
            && ratio <= filter.max_ratio
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_specific_setting_wins_and_frigates_defaults_hold_elsewhere() {
        let mut filters = ObjectFilters::new(Filter::default());
        filters.add_filter("*:person:min_score=0.6").expect("label");
        filters.add_filter("door:*:threshold=0.8").expect("camera");
        filters.add_filter("door:person:min_score=0.4,max_area=5000").expect("both");
        filters.add_filter("*:a:b:min_ratio=0.5").expect("a label with ':'");
        assert_eq!(filters.filter("yard", "car"), Filter::default());
        assert_eq!(filters.filter("yard", "person").min_score, 0.6);
        let door = filters.filter("door", "person");
        assert_eq!((door.min_score, door.threshold, door.max_area), (0.4, 0.8, 5000.0));
        assert_eq!(filters.filter("door", "car").threshold, 0.8);
        assert_eq!(filters.filter("yard", "a:b").min_ratio, 0.5);
        for bad in
            ["person:min_score=0.5", "*:person:min_score=2", "*:person:speed=1", "do.or:x:threshold=0.5", "*::x=1"]
        {
            assert!(filters.add_filter(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn detections_pass_on_label_score_area_and_ratio() {
        let mut filters = ObjectFilters::new(Filter::default());
        filters.add_filter("*:car:min_area=0.1,max_ratio=3").expect("filter");
        filters.track(["car".to_owned(), "person".to_owned()]);
        filters.track_on("porch", ["cat".to_owned()]);
        let frame = 100.0 * 100.0;
        assert!(filters.passes("door", "person", 0.5, [0.0, 0.0, 10.0, 10.0], frame));
        assert!(!filters.passes("door", "person", 0.49, [0.0, 0.0, 10.0, 10.0], frame), "below min_score");
        assert!(!filters.passes("door", "dog", 0.9, [0.0, 0.0, 10.0, 10.0], frame), "not tracked");
        assert!(filters.passes("porch", "cat", 0.9, [0.0, 0.0, 10.0, 10.0], frame), "the camera's own labels");
        assert!(!filters.passes("porch", "person", 0.9, [0.0, 0.0, 10.0, 10.0], frame));
        assert!(!filters.passes("door", "car", 0.9, [0.0, 0.0, 20.0, 20.0], frame), "under 10% of the frame");
        assert!(filters.passes("door", "car", 0.9, [0.0, 0.0, 50.0, 20.0], frame));
        assert!(!filters.passes("door", "car", 0.9, [0.0, 0.0, 100.0, 20.0], frame), "wider than 3:1");
    }
}
