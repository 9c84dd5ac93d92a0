//! A question to the store, in Frigate's words: `/api/events`'s query parameters (`camera`,
//! `label`, `zone` and their plurals as comma-separated lists, `after`, `before`, `limit`,
//! `has_clip`, `has_snapshot`, `in_progress`, `min_score`, `max_score`, `sort`), read from a
//! request's query string, checked and bounded, turned into one SQL `WHERE` for both databases,
//! and also asked of one row in memory (the web view without a store, and the tests' cross-check).

use crate::error::HistoryError;
use crate::row::EventRow;

/// The most events one query returns (Frigate's default is 100; it has no upper bound).
pub const MAX_LIMIT: usize = 10_000;

/// The most names one list (`cameras`, `labels`, `zones`) may hold.
const MAX_NAMES: usize = 100;

/// The longest name in a list.
const MAX_NAME: usize = 200;

/// How the answer is sorted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sort {
    /// Newest first (Frigate's default).
    #[default]
    DateDesc,
    /// Oldest first.
    DateAsc,
    /// Best snapshot score first.
    ScoreDesc,
    /// Worst snapshot score first.
    ScoreAsc,
}

/// One query, as Frigate's `/api/events` takes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Cameras to include (empty: all).
    pub cameras: Vec<String>,
    /// Labels to include (empty: all).
    pub labels: Vec<String>,
    /// Zones, any of which an event must have entered (empty: all); `None` asks for events in no
    /// zone.
    pub zones: Vec<String>,
    /// Only events that started after this (Unix seconds).
    pub after: Option<f64>,
    /// Only events that started before this.
    pub before: Option<f64>,
    /// At most this many events.
    pub limit: usize,
    /// Only events with (true) or without (false) a clip.
    pub has_clip: Option<bool>,
    /// Only events with or without a snapshot.
    pub has_snapshot: Option<bool>,
    /// Only events in progress (true) or ended (false).
    pub in_progress: Option<bool>,
    /// Only events whose best snapshot scored at least this.
    pub min_score: Option<f64>,
    /// Only events whose best snapshot scored at most this.
    pub max_score: Option<f64>,
    /// The order.
    pub sort: Sort,
}

impl Default for Query {
    fn default() -> Self {
        Self {
            cameras: Vec::new(),
            labels: Vec::new(),
            zones: Vec::new(),
            after: None,
            before: None,
            limit: 100,
            has_clip: None,
            has_snapshot: None,
            in_progress: None,
            min_score: None,
            max_score: None,
            sort: Sort::DateDesc,
        }
    }
}

/// A value bound to a placeholder.
#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    /// Text.
    Text(String),
    /// A number of seconds or a score.
    Real(f64),
    /// A whole number (booleans are 0 and 1).
    Int(i64),
}

impl Query {
    /// Reads Frigate's parameters from `pairs` (decoded names and values); parameters it does not
    /// know are left alone, as Frigate leaves them.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, HistoryError> {
        let mut query = Self::default();
        for (name, value) in pairs {
            match name {
                "camera" | "cameras" => query.cameras = names(name, value)?,
                "label" | "labels" => query.labels = names(name, value)?,
                "zone" | "zones" => query.zones = names(name, value)?,
                "after" => query.after = Some(number(name, value)?),
                "before" => query.before = Some(number(name, value)?),
                "limit" => {
                    let limit: usize = value
                        .trim()
                        .parse()
                        .map_err(|_| HistoryError::Invalid(format!("limit {value:?} is not a whole number")))?;
                    query.limit = limit.min(MAX_LIMIT);
                }
                "has_clip" => query.has_clip = Some(flag(name, value)?),
                "has_snapshot" => query.has_snapshot = Some(flag(name, value)?),
                "in_progress" => query.in_progress = Some(flag(name, value)?),
                "min_score" => query.min_score = Some(number(name, value)?),
                "max_score" => query.max_score = Some(number(name, value)?),
                "sort" => {
                    query.sort = match value {
                        "date_desc" => Sort::DateDesc,
                        "date_asc" => Sort::DateAsc,
                        "score_desc" => Sort::ScoreDesc,
                        "score_asc" => Sort::ScoreAsc,
                        other => {
                            return Err(HistoryError::Invalid(format!(
                                "sort {other:?}: use date_desc, date_asc, score_desc or score_asc"
                            )))
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(query)
    }

    /// The `WHERE ... ORDER BY ... LIMIT ...` tail of a `SELECT` from `event`, its placeholders
    /// numbered from `$1` (PostgreSQL's form, which SQLite takes too), and what they are bound to.
    pub fn sql(&self) -> (String, Vec<Bind>) {
        let mut clauses = Vec::new();
        let mut binds = Vec::new();
        let placeholder = |bind: Bind, binds: &mut Vec<Bind>| {
            binds.push(bind);
            format!("${}", binds.len())
        };
        for (column, list) in [("camera", &self.cameras), ("label", &self.labels)] {
            if !list.is_empty() {
                let marks: Vec<String> =
                    list.iter().map(|name| placeholder(Bind::Text(name.clone()), &mut binds)).collect();
                clauses.push(format!("{column} IN ({})", marks.join(", ")));
            }
        }
        if !self.zones.is_empty() {
            let any: Vec<String> = self
                .zones
                .iter()
                .map(|zone| match zone.as_str() {
                    "None" => "zones = '[]'".to_owned(),
                    zone => {
                        let pattern = format!("%{}%", like_escaped(&serde_json::Value::from(zone).to_string()));
                        format!("zones LIKE {} ESCAPE '\\'", placeholder(Bind::Text(pattern), &mut binds))
                    }
                })
                .collect();
            clauses.push(format!("({})", any.join(" OR ")));
        }
        if let Some(after) = self.after {
            clauses.push(format!("start_time > {}", placeholder(Bind::Real(after), &mut binds)));
        }
        if let Some(before) = self.before {
            clauses.push(format!("start_time < {}", placeholder(Bind::Real(before), &mut binds)));
        }
        for (column, wanted) in [("has_clip", self.has_clip), ("has_snapshot", self.has_snapshot)] {
            if let Some(wanted) = wanted {
                clauses.push(format!("{column} = {}", placeholder(Bind::Int(i64::from(wanted)), &mut binds)));
            }
        }
        match self.in_progress {
            Some(true) => clauses.push("end_time IS NULL".into()),
            Some(false) => clauses.push("end_time IS NOT NULL".into()),
            None => {}
        }
        if let Some(min) = self.min_score {
            clauses.push(format!("score >= {}", placeholder(Bind::Real(min), &mut binds)));
        }
        if let Some(max) = self.max_score {
            clauses.push(format!("score <= {}", placeholder(Bind::Real(max), &mut binds)));
        }
        let filter = if clauses.is_empty() { String::new() } else { format!(" WHERE {}", clauses.join(" AND ")) };
        // The id breaks ties, so that pages of equal start times never repeat or skip one.
        let order = match self.sort {
            Sort::DateDesc => "start_time DESC, id DESC",
            Sort::DateAsc => "start_time ASC, id ASC",
            Sort::ScoreDesc => "score DESC, start_time DESC, id DESC",
            Sort::ScoreAsc => "score ASC, start_time DESC, id DESC",
        };
        let limit = placeholder(Bind::Int(i64::try_from(self.limit).unwrap_or(i64::MAX)), &mut binds);
        (format!("{filter} ORDER BY {order} LIMIT {limit}"), binds)
    }

    /// Whether `row` answers the query (its filters; not the order or the limit).
    pub fn matches(&self, row: &EventRow) -> bool {
        let listed = |list: &[String], value: &str| list.is_empty() || list.iter().any(|v| v == value);
        let zone = self.zones.is_empty()
            || self.zones.iter().any(|z| if z == "None" { row.zones.is_empty() } else { row.zones.contains(z) });
        listed(&self.cameras, &row.camera)
            && listed(&self.labels, &row.label)
            && zone
            && self.after.is_none_or(|after| row.start_time > after)
            && self.before.is_none_or(|before| row.start_time < before)
            && self.has_clip.is_none_or(|wanted| row.has_clip == wanted)
            && self.has_snapshot.is_none_or(|wanted| row.has_snapshot == wanted)
            && self.in_progress.is_none_or(|wanted| row.end_time.is_none() == wanted)
            && self.min_score.is_none_or(|min| row.score().is_some_and(|s| s >= min))
            && self.max_score.is_none_or(|max| row.score().is_some_and(|s| s <= max))
    }
}

/// A comma-separated list of names; `all` (Frigate's word) is no filter.
fn names(name: &str, value: &str) -> Result<Vec<String>, HistoryError> {
    if value == "all" {
        return Ok(Vec::new());
    }
    let list: Vec<String> = value.split(',').map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned).collect();
    if list.len() > MAX_NAMES {
        return Err(HistoryError::Invalid(format!("{name}: at most {MAX_NAMES} names")));
    }
    if let Some(long) = list.iter().find(|n| n.len() > MAX_NAME) {
        return Err(HistoryError::Invalid(format!("{name}: {} is longer than {MAX_NAME} bytes", &long[..20])));
    }
    Ok(list)
}

/// A finite number (Unix seconds or a score).
fn number(name: &str, value: &str) -> Result<f64, HistoryError> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| HistoryError::Invalid(format!("{name} {value:?} is not a number")))
}

/// Frigate's `0` or `1` (and `true` or `false`).
fn flag(name: &str, value: &str) -> Result<bool, HistoryError> {
    match value.trim() {
        "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        other => Err(HistoryError::Invalid(format!("{name} {other:?}: use 1 or 0"))),
    }
}

/// `text` with LIKE's wildcards and the escape character escaped by `\`.
fn like_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frigates_parameters_are_read_and_checked() {
        let query = Query::from_pairs([
            ("cameras", "door,yard"),
            ("label", "person"),
            ("after", "10.5"),
            ("limit", "999999"),
            ("has_clip", "1"),
            ("in_progress", "0"),
            ("include_thumbnails", "0"),
            ("token", "ignored"),
        ])
        .expect("query");
        assert_eq!(query.cameras, ["door", "yard"]);
        assert_eq!(query.labels, ["person"]);
        assert_eq!(query.after, Some(10.5));
        assert_eq!(query.limit, MAX_LIMIT, "the limit is capped");
        assert_eq!((query.has_clip, query.in_progress), (Some(true), Some(false)));
        assert_eq!(Query::from_pairs([("camera", "all")]).expect("all").cameras, Vec::<String>::new());
        for (name, value) in [
            ("after", "yesterday"),
            ("before", "NaN"),
            ("limit", "-1"),
            ("has_clip", "yes"),
            ("sort", "random"),
            ("zones", &"z,".repeat(200)),
        ] {
            let error = Query::from_pairs([(name, value)]).expect_err(name);
            assert!(error.to_string().contains(name), "{error}");
        }
    }

    #[test]
    fn the_sql_numbers_its_placeholders_and_escapes_zones() {
        let query = Query {
            cameras: vec!["a".into(), "b".into()],
            zones: vec!["50%_off".into(), "None".into()],
            before: Some(5.0),
            limit: 7,
            ..Query::default()
        };
        let (sql, binds) = query.sql();
        assert_eq!(
            sql,
            " WHERE camera IN ($1, $2) AND (zones LIKE $3 ESCAPE '\\' OR zones = '[]') AND start_time < $4 \
             ORDER BY start_time DESC, id DESC LIMIT $5"
        );
        assert_eq!(binds[2], Bind::Text("%\"50\\%\\_off\"%".into()));
        assert_eq!(binds[4], Bind::Int(7));
        assert_eq!(Query::default().sql().0, " ORDER BY start_time DESC, id DESC LIMIT $1");
    }
}
