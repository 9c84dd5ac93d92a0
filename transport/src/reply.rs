//! The document nvt's server puts in the 1024-byte reply: `{"seq": 41, "detections": [...]}`,
//! space padded. An original client prints it as it is; nvt's client parses it.

use crate::field::REPLY_LEN;
use serde::{Deserialize, Serialize};

/// One detection as it travels in a reply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplyDetection {
    /// Class number.
    pub class_id: u32,
    /// Class name.
    pub label: String,
    /// Confidence, 0 to 1.
    pub score: f32,
    /// Box in pixels of the frame: x1, y1, x2, y2.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    /// The tracker's number for the object, the same while it stays in view on its camera
    /// (absent when no track holds the detection, and without a model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track_id: Option<u64>,
    /// Carried over by the tracker from the last frame the detector saw it in: the detector did
    /// not look where it is on this frame (`--detect motion`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub carried: bool,
    /// The region of the frame the detector ran on when it found this, x1, y1, x2, y2 in pixels
    /// (`--detect motion`; `None`: the whole frame). Not sent in replies: events carry it as
    /// Frigate's `region`.
    #[serde(skip)]
    pub region: Option<[i32; 4]>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Where the detector ran on a frame (`--detect motion`; absent when it runs on every frame).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Looked {
    /// On the whole frame.
    Frame,
    /// On the regions where something moved or a tracked object was due a look.
    Regions,
    /// Nowhere: nothing moved and no tracked object was due; every detection is carried.
    None,
}

/// How the server judged the exchange this reply answers, so that a client can fit its frames
/// to the link and to the server's rule (see [`crate::freshness`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LinkReport {
    /// What the server's limit applies to: `wait` (the time the timestamp waited at the client,
    /// `--max-lag auto`) or `lag` (everything from timestamp out to echo in, the original rule).
    pub judged: Judged,
    /// The limit, in milliseconds.
    pub limit_ms: f64,
    /// The link's round trip as the server has learned it.
    pub rtt_ms: f64,
    /// How long the frame took to arrive, first byte to last.
    pub upload_ms: f64,
    /// How long the timestamp waited at the client.
    pub wait_ms: f64,
}

impl LinkReport {
    /// How `judgement` was made under `rule`, as the reply tells it.
    pub fn new(rule: crate::freshness::MaxLag, judgement: &crate::freshness::Judgement) -> Self {
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
        let judged = match rule {
            crate::freshness::MaxLag::Auto => Judged::Wait,
            crate::freshness::MaxLag::Strict(_) => Judged::Lag,
        };
        Self {
            judged,
            limit_ms: ms(rule.limit()),
            rtt_ms: ms(judgement.rtt),
            upload_ms: ms(judgement.upload),
            wait_ms: ms(judgement.wait),
        }
    }

    /// The report if every number in it is one a server could have measured (finite, from 0 to
    /// an hour), `None` otherwise: it comes from a peer.
    pub fn checked(self) -> Option<Self> {
        let fine = |v: f64| v.is_finite() && (0.0..=3_600_000.0).contains(&v);
        [self.limit_ms, self.rtt_ms, self.upload_ms, self.wait_ms].into_iter().all(fine).then_some(self)
    }
}

/// What a server's freshness limit applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Judged {
    /// Only the time the timestamp waited at the client.
    Wait,
    /// Everything from timestamp out to echo in.
    Lag,
}

/// The reply document.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ReplyDoc {
    /// The camera's name (see docs/events.md, "Cameras").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub camera: Option<String>,
    /// The server's number of the frame the detections belong to (its count of accepted frames
    /// on this connection, from 0).
    pub seq: u64,
    /// Detections, most confident first.
    pub detections: Vec<ReplyDetection>,
    /// How many detections did not fit in 1024 bytes and were left out.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub omitted: usize,
    /// How the server judged the exchange this reply answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<LinkReport>,
    /// Where the detector ran on the frame (`--detect motion`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub looked: Option<Looked>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl ReplyDoc {
    /// The reply as its 1024 bytes, space padded. Detections that do not fit are dropped from the
    /// end (the least confident, since they come sorted) and counted in `omitted`.
    pub fn encode(&self) -> [u8; REPLY_LEN] {
        let mut doc = self.clone();
        for d in &mut doc.detections {
            d.score = (d.score * 1000.0).round() / 1000.0;
            d.bbox = d.bbox.map(|v| (v * 10.0).round() / 10.0);
        }
        if let Some(link) = &mut doc.link {
            let tenth = |v: f64| if v.is_finite() { (v * 10.0).round() / 10.0 } else { 0.0 };
            (link.limit_ms, link.rtt_ms, link.upload_ms, link.wait_ms) =
                (tenth(link.limit_ms), tenth(link.rtt_ms), tenth(link.upload_ms), tenth(link.wait_ms));
        }
        loop {
            let text = serde_json::to_vec(&doc).unwrap_or_else(|_| b"{}".to_vec());
            if text.len() <= REPLY_LEN {
                let mut out = [b' '; REPLY_LEN];
                out[..text.len()].copy_from_slice(&text);
                return out;
            }
            // Labels are free text from the model: a single detection could be too long.
            if doc.detections.pop().is_none() {
                doc.omitted = 0;
            }
            doc.omitted += 1;
        }
    }
}

/// A reply as a client reads it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ReplyBody {
    /// nvt's JSON document.
    Doc(ReplyDoc),
    /// Anything else (an original server's `received and not delay`), trimmed.
    Text(String),
}

impl ReplyBody {
    /// Reads the 1024 reply bytes.
    pub fn parse(bytes: &[u8]) -> Self {
        let text = String::from_utf8_lossy(bytes);
        let text = text.trim_end_matches([' ', '\0']).trim();
        match serde_json::from_str::<ReplyDoc>(text) {
            Ok(doc) => Self::Doc(doc),
            Err(_) => Self::Text(text.to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detection(i: u32) -> ReplyDetection {
        ReplyDetection {
            class_id: i,
            label: format!("class number {i}"),
            score: 0.5,
            bbox: [1.5, 2.0, 300.0, 400.5],
            track_id: Some(u64::from(i) + 1),
            carried: i == 1,
            region: None,
        }
    }

    #[test]
    fn empty_doc_is_the_documented_text() {
        let bytes = ReplyDoc { seq: 41, ..ReplyDoc::default() }.encode();
        assert!(bytes.starts_with(br#"{"seq":41,"detections":[]}"#));
        assert!(bytes[26..].iter().all(|&c| c == b' '));
    }

    #[test]
    fn round_trips_through_1024_bytes() {
        let link = LinkReport { judged: Judged::Wait, limit_ms: 80.0, rtt_ms: 60.2, upload_ms: 38.1, wait_ms: 0.4 };
        let doc = ReplyDoc {
            camera: Some("door".into()),
            seq: 7,
            detections: vec![detection(0), detection(1)],
            omitted: 0,
            link: Some(link),
            looked: Some(Looked::Regions),
        };
        let bytes = doc.encode();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            text.contains(r#""link":{"judged":"wait","limit_ms":80.0,"rtt_ms":60.2,"upload_ms":38.1,"wait_ms":0.4}"#),
            "{text}"
        );
        assert!(text.contains(r#""looked":"regions""#) && text.matches(r#""carried":true"#).count() == 1, "{text}");
        assert_eq!(ReplyBody::parse(&bytes), ReplyBody::Doc(doc));
    }

    #[test]
    fn a_link_report_with_numbers_no_server_measures_is_refused() {
        let good = LinkReport { judged: Judged::Lag, limit_ms: 80.0, rtt_ms: 6.0, upload_ms: 20.0, wait_ms: 1.0 };
        assert_eq!(good.checked(), Some(good));
        for bad in [1e30, -1.0, f64::INFINITY, f64::NAN] {
            assert_eq!(LinkReport { upload_ms: bad, ..good }.checked(), None, "{bad}");
            assert_eq!(LinkReport { limit_ms: bad, ..good }.checked(), None, "{bad}");
        }
    }

    #[test]
    fn too_many_detections_are_truncated_and_counted() {
        let doc = ReplyDoc { seq: 1, detections: (0..100).map(detection).collect(), ..ReplyDoc::default() };
        let ReplyBody::Doc(back) = ReplyBody::parse(&doc.encode()) else { panic!("not JSON") };
        assert!(!back.detections.is_empty() && back.detections.len() < 100);
        assert_eq!(back.detections.len() + back.omitted, 100);
        assert_eq!(back.detections[..], doc.detections[..back.detections.len()]);
    }

    #[test]
    fn a_label_too_long_for_any_reply_still_gives_valid_json() {
        let mut huge = detection(0);
        huge.label = "x".repeat(2000);
        let doc = ReplyDoc { seq: 1, detections: vec![huge], ..ReplyDoc::default() };
        let ReplyBody::Doc(back) = ReplyBody::parse(&doc.encode()) else { panic!("not JSON") };
        assert_eq!((back.detections.len(), back.omitted), (0, 1));
    }

    #[test]
    fn original_text_is_kept_as_text() {
        let mut bytes = [b' '; REPLY_LEN];
        bytes[..22].copy_from_slice(b"received and not delay");
        assert_eq!(ReplyBody::parse(&bytes), ReplyBody::Text("received and not delay".into()));
    }
}
