//! Events for a terminal: a table, one event a line, or JSON Lines. Names come from cameras and
//! models, so a control character (an escape sequence that would drive the terminal) is shown
//! as `?`.

use crate::row::EventRow;
use std::fmt::Write;

/// The table's header.
pub const HEADER: &str = "START (UTC)           LENGTH  CAMERA           LABEL        SCORE  CLIP  ID";

/// One event as a line of the table.
pub fn line(row: &EventRow) -> String {
    let length = match row.end_time {
        Some(end) => format!("{:.1}s", (end - row.start_time).max(0.0)),
        None => "now".to_owned(),
    };
    let mut out = String::new();
    let _ = write!(
        out,
        "{:<21} {:>7}  {:<16} {:<12} {:>5.2}  {:<4}  {}",
        utc(row.start_time),
        length,
        shown(&row.camera, 16),
        shown(&row.label, 12),
        row.top_score(),
        if row.has_clip { "yes" } else { "-" },
        shown(&row.id, 40)
    );
    out
}

/// One event as a JSON line.
pub fn json_line(row: &EventRow) -> String {
    serde_json::to_string(row).unwrap_or_default()
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS`, UTC.
pub fn utc(unix: f64) -> String {
    let time = std::time::UNIX_EPOCH
        + std::time::Duration::from_secs_f64(if unix.is_finite() { unix.clamp(0.0, 1e11) } else { 0.0 });
    humantime::format_rfc3339_seconds(time).to_string().replace('T', " ").trim_end_matches('Z').to_owned()
}

/// `text` with control characters as `?`, cut to `width` characters.
fn shown(text: &str, width: usize) -> String {
    text.chars().map(|c| if c.is_control() { '?' } else { c }).take(width).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_shows_names_as_text() {
        let mut row: EventRow = serde_json::from_value(serde_json::json!({
            "id": "1700000000.000000-abc123", "label": "person\u{1b}[2J", "sub_label": null, "camera": "door",
            "start_time": 1_700_000_000.0, "end_time": 1_700_000_012.5, "false_positive": false, "zones": [],
            "thumbnail": "", "has_clip": true, "has_snapshot": false, "retain_indefinitely": false,
            "plus_id": null, "model_hash": null, "detector_type": null, "model_type": null,
            "data": {"top_score": 0.91}
        }))
        .expect("row");
        let text = line(&row);
        assert!(text.starts_with("2023-11-14 22:13:20"), "{text}");
        assert!(text.contains("12.5s") && text.contains("person?[2J") && text.contains("yes"), "{text}");
        assert!(!text.contains('\u{1b}'));
        row.end_time = None;
        assert!(line(&row).contains("now"));
    }
}
