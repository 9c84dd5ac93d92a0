//! The event history against the real things: Frigate's questions asked of a known set of
//! events in SQLite and in a real PostgreSQL, answered alike and as the test works them out
//! itself; a store that outlives its process, even one killed with SIGKILL in the middle of
//! events; a clip's frames equal to the frames that arrived; retention on a virtual clock and
//! within a small size cap; and a full disk (a 1 MiB tmpfs) that costs clips, never the store.

use nvt_history::clips::{avi, ClipSettings, Recorder};
use nvt_history::media::{Kind, Media};
use nvt_history::retention::{self, Files, Rules};
use nvt_history::store::{Change, Mode};
use nvt_history::{EventRow, Location, Query, Store};
use nvt_tests::harness::{free_port, spawn, spawn_shapes_server, synthetic_jpeg, temp_dir, wait_for_port, ChildGuard};
use nvt_tests::postgres::Postgres;
use serde_json::json;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const DAY: f64 = 86_400.0;

/// When the known events begin.
const EPOCH: f64 = 1_700_000_000.0;

/// An ended (or, with `end` `None`, in-progress) event as the server would write it.
fn event(n: usize, camera: &str, label: &str, start: f64, end: Option<f64>, zones: &[&str], score: f64) -> EventRow {
    EventRow {
        id: format!("{start:.6}-{n:06}"),
        label: label.into(),
        sub_label: None,
        camera: camera.into(),
        start_time: start,
        end_time: end,
        false_positive: false,
        zones: zones.iter().map(|z| (*z).to_owned()).collect(),
        thumbnail: String::new(),
        has_clip: false,
        has_snapshot: n.is_multiple_of(2),
        retain_indefinitely: false,
        plus_id: None,
        model_hash: None,
        detector_type: None,
        model_type: None,
        data: json!({ "type": "object", "score": score, "top_score": score, "track_id": n, "frame_time": end.unwrap_or(start + 1.0) }),
    }
}

/// 300 events on three cameras, three labels, some zones, some in progress, some with clips.
fn known_events() -> Vec<EventRow> {
    let (cameras, labels) = (["door", "yard", "garage"], ["person", "car", "dog"]);
    let zones: [&[&str]; 4] = [&["porch"], &["porch", "drive"], &[], &["50%_off"]];
    (0..300usize)
        .map(|n| {
            let start = EPOCH + n as f64 * 37.0;
            let end = (!n.is_multiple_of(5)).then_some(start + 10.0);
            let mut row =
                event(n, cameras[n % 3], labels[(n / 3) % 3], start, end, zones[n % 4], 0.5 + (n % 50) as f64 / 100.0);
            row.has_clip = n.is_multiple_of(3) && end.is_some();
            // Some have no best frame yet (no score), some a sub-label: NULLs among values.
            if n.is_multiple_of(7) {
                row.data.as_object_mut().expect("data").remove("score");
            }
            row.sub_label = n.is_multiple_of(11).then(|| "alice".to_owned());
            row
        })
        .collect()
}

/// Writes the known events as a server would: each first in progress, then as it ends, and its
/// clip; then a late, older copy of an ended one that must change nothing.
async fn write_known(store: &Store, events: &[EventRow]) {
    for chunk in events.chunks(50) {
        let started: Vec<Change> = chunk
            .iter()
            .map(|r| {
                let mut open = r.clone();
                if r.end_time.is_some() {
                    open.end_time = None;
                    open.has_clip = false;
                    open.data["frame_time"] = json!(r.start_time);
                }
                Change::Event(Box::new(open))
            })
            .collect();
        store.write(&started).await.expect("write new events");
        let ended: Vec<Change> =
            chunk.iter().filter(|r| r.end_time.is_some()).map(|r| Change::Event(Box::new(r.clone()))).collect();
        store.write(&ended).await.expect("write their ends");
        let clips: Vec<Change> = chunk.iter().filter(|r| r.has_clip).map(|r| Change::Clip(r.id.clone())).collect();
        store.write(&clips).await.expect("write their clips");
    }
    let mut stale = events[1].clone();
    stale.end_time = None;
    stale.data["frame_time"] = json!(stale.start_time);
    store.write(&[Change::Event(Box::new(stale))]).await.expect("a message delivered again");
}

/// Asks `store` Frigate's questions (as query strings) and checks each answer against the
/// test's own reading of the known events: filtered, newest first, cut at the limit.
async fn assert_answers(store: &Store, events: &[EventRow], name: &str) {
    type Filter = Box<dyn Fn(&EventRow) -> bool>;
    let middle = EPOCH + 100.0 * 37.0;
    let cases: Vec<(&str, Filter, usize)> = vec![
        ("", Box::new(|_| true), 100),
        ("limit=100000", Box::new(|_| true), 10_000),
        ("camera=door&label=person", Box::new(|r| r.camera == "door" && r.label == "person"), 100),
        ("cameras=door,yard&labels=car", Box::new(|r| r.camera != "garage" && r.label == "car"), 100),
        ("camera=all&labels=all&limit=3", Box::new(|_| true), 3),
        ("zone=porch&limit=1000", Box::new(|r| r.zones.iter().any(|z| z == "porch")), 1000),
        ("zones=drive,None&limit=1000", Box::new(|r| r.zones.is_empty() || r.zones.iter().any(|z| z == "drive")), 1000),
        ("zone=50%25_off&limit=1000", Box::new(|r| r.zones.iter().any(|z| z == "50%_off")), 1000),
        ("zone=%25&limit=1000", Box::new(|_| false), 1000),
        ("zone=50_&limit=1000", Box::new(|_| false), 1000),
        (
            "after=1700003700&before=1700007400&limit=1000",
            Box::new(move |r| r.start_time > middle && r.start_time < middle + 3700.0),
            1000,
        ),
        ("has_clip=1&limit=1000", Box::new(|r| r.has_clip), 1000),
        ("has_snapshot=0&limit=1000", Box::new(|r| !r.has_snapshot), 1000),
        ("in_progress=1&limit=1000", Box::new(|r| r.end_time.is_none()), 1000),
        ("in_progress=0&limit=7", Box::new(|r| r.end_time.is_some()), 7),
        (
            "min_score=0.9&max_score=0.95&limit=1000",
            Box::new(|r| r.score().is_some_and(|s| (0.9..=0.95).contains(&s))),
            1000,
        ),
        ("camera=' OR 1=1 --&limit=1000", Box::new(|_| false), 1000),
        ("label=person\"); DROP TABLE event; --", Box::new(|_| false), 100),
    ];
    for (text, filter, limit) in cases {
        let pairs: Vec<(String, String)> = text
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').expect("k=v");
                (k.to_owned(), v.replace("%25", "%"))
            })
            .collect();
        let query = Query::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))).expect("a query");
        let mut expected: Vec<&EventRow> = events.iter().filter(|r| filter(r)).collect();
        expected.sort_by(|a, b| b.start_time.total_cmp(&a.start_time));
        expected.truncate(limit);
        let answer = store.query(&query).await.unwrap_or_else(|e| panic!("{name}: {text}: {e}"));
        let ids: Vec<&str> = answer.iter().map(|r| r.id.as_str()).collect();
        let wanted: Vec<&str> = expected.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, wanted, "{name}: {text}");
        for (got, want) in answer.iter().zip(&expected) {
            assert_eq!(got, *want, "{name}: {text}: the row as written");
        }
    }
    let oldest_first =
        store.query(&Query { sort: nvt_history::query::Sort::DateAsc, limit: 2, ..Query::default() }).await;
    let ids: Vec<String> = oldest_first.expect("date_asc").into_iter().map(|r| r.id).collect();
    assert_eq!(ids, [events[0].id.clone(), events[1].id.clone()], "{name}: date_asc");
    assert_eq!(store.get(&events[7].id).await.expect("get").as_ref(), Some(&events[7]), "{name}: one event");
    assert_eq!(store.get("1.000000-nosuch").await.expect("get"), None, "{name}: no such event");
    assert_eq!(store.count().await.expect("count"), events.len() as u64, "{name}: nothing was dropped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frigates_questions_get_the_same_answers_from_sqlite_and_postgresql_and_after_a_restart() {
    let dir = temp_dir("history-queries");
    let events = known_events();
    let postgres = Postgres::start(&dir.join("postgres"));
    let locations = [Location::Sqlite(dir.join("events.db")), Location::Postgres(postgres.url())];
    for location in &locations {
        let name = location.display();
        let store = Store::open(location, Mode::Write).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        write_known(&store, &events).await;
        assert_answers(&store, &events, &name).await;
        // Events a crash left in progress are ended at the last frame they were seen in.
        assert_eq!(store.close_open().await.expect("close"), 60, "{name}: every fifth event was in progress");
        let reopened: Vec<EventRow> = events
            .iter()
            .cloned()
            .map(|mut r| {
                r.end_time = r.end_time.or(Some(r.last_seen()));
                r
            })
            .collect();
        store.close().await;
        // The store outlives its process: opened again (as nvt-events reads it), the same answers.
        let again = Store::open(location, if location == &locations[0] { Mode::Read } else { Mode::Write })
            .await
            .expect("reopen");
        assert_answers(&again, &reopened, &format!("{name}, reopened")).await;
        again.close().await;
    }
}

/// A JPEG's head, up to and with its frame header (640x480): enough for a clip's size.
fn jpeg_head() -> Vec<u8> {
    let jpeg = synthetic_jpeg(0);
    let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).expect("a baseline JPEG");
    let length = usize::from(u16::from_be_bytes([jpeg[sof + 2], jpeg[sof + 3]]));
    jpeg[..sof + 2 + length].to_vec()
}

/// A JPEG head and then `size` bytes that make each frame different.
fn frame_bytes(base: &[u8], index: usize, size: usize) -> bytes::Bytes {
    let mut jpeg = base.to_vec();
    jpeg.extend((0..size).map(|i| (i.wrapping_mul(31) ^ index) as u8));
    jpeg.extend_from_slice(&index.to_le_bytes());
    bytes::Bytes::from(jpeg)
}

fn recorder(media: &Media, pre: f64, post: f64) -> (Arc<Recorder>, Arc<Mutex<Vec<String>>>) {
    let done = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&done);
    let settings = ClipSettings { pre, post, max_length: 60.0 };
    let recorder = Recorder::new(settings, media.clone(), move |id| seen.lock().expect("lock").push(id.to_owned()));
    (Arc::new(recorder), done)
}

#[test]
fn a_clip_holds_exactly_the_frames_that_arrived_from_its_pre_roll_to_its_post_roll() {
    let dir = temp_dir("history-clip");
    let media = Media::open(&dir.join("clips")).expect("media");
    let (recorder, done) = recorder(&media, 2.0, 3.0);
    let base = jpeg_head();
    let id = "1700000108.000000-abc123";
    let mut sent = Vec::new();
    // Two cameras at 10 frames a second from t = 100.05 s; the event is on the door camera from
    // 108 s to 111 s, so its clip is the door's frames from 106 s to 114 s: 80 of them.
    for i in 0..200usize {
        let t = EPOCH + 100.05 + i as f64 * 0.1;
        let door = frame_bytes(&base, i, 500);
        recorder.frame("door", t, door.clone());
        recorder.frame("yard", t, frame_bytes(&base, 10_000 + i, 500));
        if (EPOCH + 106.0..=EPOCH + 114.0).contains(&t) {
            sent.push(door);
        }
        if i == 80 {
            recorder.event_started(id, "door", EPOCH + 108.0);
        }
        if i == 110 {
            recorder.event_ended(id, EPOCH + 111.0);
        }
        if i.is_multiple_of(3) {
            recorder.tick(t);
        }
    }
    recorder.tick(EPOCH + 125.0);
    assert_eq!(*done.lock().expect("lock"), [id], "the clip is written once the event's post-roll is over");
    let file = std::fs::read(media.path(id, Kind::Clip).expect("path")).expect("the clip file");
    let (frames, fps) = avi::read(&file).expect("an AVI nvt wrote");
    assert_eq!(frames.len(), 80);
    assert!(frames.iter().zip(&sent).all(|(got, sent)| got == sent), "each frame's bytes as they arrived");
    assert!((fps - 10.0).abs() < 0.2, "{fps} frames per second");
    assert_eq!(recorder.counts.frames_lost.load(std::sync::atomic::Ordering::Relaxed), 0);
    assert_eq!(recorder.active(), 0);
}

/// A small tmpfs mounted for the test; unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Self {
        std::fs::create_dir_all(dir).expect("mount point");
        let root = Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false);
        let mut mount = if root { Command::new("mount") } else { sudo("mount") };
        let done = mount
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "tmpfs"])
            .arg(dir)
            .status()
            .expect("mount");
        assert!(done.success(), "cannot mount a tmpfs at {} (the test needs root or sudo)", dir.display());
        Self(dir.to_owned())
    }
}

use std::process::Command;

fn sudo(program: &str) -> Command {
    let mut command = Command::new("sudo");
    command.args(["-n", program]);
    command
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let root = Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false);
        let mut umount = if root { Command::new("umount") } else { sudo("umount") };
        let _ = umount.arg(&self.0).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_costs_clips_with_a_pause_never_the_store() {
    let dir = temp_dir("history-full");
    let disk = Tmpfs::mount(&dir.join("small"), "1m");
    let store = Store::open(&Location::Sqlite(disk.0.join("events.db")), Mode::Write).await.expect("store");
    let media = Media::open(&disk.0.join("clips")).expect("media");
    let (recorder, done) = recorder(&media, 1.0, 1.0);
    let base = jpeg_head();
    let (first, second, third) = ("1700000010.000000-aaaaaa", "1700000020.000000-bbbbbb", "1700000060.000000-cccccc");
    let mut written = Vec::new();
    // 100 kB frames: the first event's clip (about 2 MB) cannot fit.
    for i in 0..700usize {
        let t = EPOCH + i as f64 * 0.1;
        let size = if i < 400 { 100_000 } else { 20_000 };
        recorder.frame("door", t, frame_bytes(&base, i, size));
        for (at, id, ends) in [(100, first, 120), (200, second, 210), (600, third, 603)] {
            if i == at {
                recorder.event_started(id, "door", t);
                let row = event(i, "door", "person", t, None, &[], 0.9);
                store
                    .write(&[Change::Event(Box::new(EventRow { id: id.into(), ..row }))])
                    .await
                    .expect("the store writes");
                written.push(id);
            }
            if i == ends {
                recorder.event_ended(id, t);
            }
        }
        if i.is_multiple_of(2) {
            recorder.tick(t);
        }
    }
    recorder.tick(EPOCH + 100.0);
    let counts = &recorder.counts;
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(load(&counts.failed), 1, "the clip that did not fit is lost");
    assert_eq!(load(&counts.skipped), 1, "the next event, within the pause, gets no clip");
    assert_eq!(*done.lock().expect("lock"), [third], "after the pause clips are written again");
    let left: Vec<String> = std::fs::read_dir(media.dir())
        .expect("list")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, [format!("{third}.avi")], "no part of the lost clip is left taking the space");
    store.write(&[Change::Clip(third.into())]).await.expect("the store still writes");
    let ids: Vec<String> = store.query(&Query::default()).await.expect("query").into_iter().map(|r| r.id).collect();
    assert_eq!(ids, [third, second, first], "every event is in the store");
    store.close().await;
    drop(store);
    drop(disk);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_removes_by_age_on_a_virtual_clock_and_the_oldest_first_within_a_size_cap() {
    let dir = temp_dir("history-retention");
    let store = Store::open(&Location::Sqlite(dir.join("events.db")), Mode::Write).await.expect("store");
    let media = Media::open(&dir.join("clips")).expect("media");
    let files = Files { media: Some(media.clone()), snapshots: None };
    let now = EPOCH + 30.0 * DAY;
    // Twenty ended events, one started each day back from now (0.5 days after the hour), each
    // with a 50 kB thumbnail; and one still in progress that started 15 days ago.
    let mut rows: Vec<EventRow> = (0..20)
        .map(|d| event(d, "door", "person", now - (d as f64 + 0.5) * DAY, Some(now - d as f64 * DAY), &[], 0.8))
        .collect();
    rows.push(event(99, "door", "person", now - 15.0 * DAY, None, &[], 0.8));
    let changes: Vec<Change> = rows.iter().map(|r| Change::Event(Box::new(r.clone()))).collect();
    store.write(&changes).await.expect("write");
    for row in &rows {
        media.save_thumbnail(&row.id, &vec![7u8; 50_000]).expect("thumbnail");
    }
    let age = Rules { max_age: Some(10.0 * DAY), max_bytes: None };
    let removed = retention::apply(&store, &files, &age, now).await.expect("retain");
    assert_eq!(removed.by_age, 10, "the events that started more than 10 days ago: {removed:?}");
    let left: Vec<String> = store.query(&Query::default()).await.expect("query").into_iter().map(|r| r.id).collect();
    let mut kept: Vec<&EventRow> = rows[..10].iter().chain([&rows[20]]).collect();
    kept.sort_by(|a, b| b.start_time.total_cmp(&a.start_time));
    assert_eq!(left, kept.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), "the in-progress event stays");
    for row in &rows {
        let kept = left.contains(&row.id);
        assert_eq!(media.path(&row.id, Kind::Thumbnail).expect("path").is_file(), kept, "{}'s thumbnail", row.id);
    }
    // Nothing more goes an hour later; everything ended goes a year later.
    let again = retention::apply(&store, &files, &age, now + 3600.0).await.expect("retain");
    assert_eq!((again.by_age, again.by_size), (0, 0));
    // Within a cap three and a half thumbnails below what is kept now: the four oldest ended go.
    let cap = removed.bytes_left - 175_000;
    let size = Rules { max_age: Some(10.0 * DAY), max_bytes: Some(cap) };
    let removed = retention::apply(&store, &files, &size, now + 3600.0).await.expect("retain");
    assert_eq!(removed.by_size, 4, "{removed:?}");
    assert!(removed.bytes_left <= cap, "{removed:?} within {cap}");
    let left: Vec<String> = store.query(&Query::default()).await.expect("query").into_iter().map(|r| r.id).collect();
    assert_eq!(left.len(), 7);
    assert!(!left.contains(&rows[9].id) && left.contains(&rows[5].id) && left.contains(&rows[20].id), "oldest first");
    let later = retention::apply(&store, &files, &age, now + 365.0 * DAY).await.expect("retain");
    assert_eq!(later.by_age, 6);
    let left: Vec<String> = store.query(&Query::default()).await.expect("query").into_iter().map(|r| r.id).collect();
    assert_eq!(left, [rows[20].id.clone()], "only the event in progress");
    // A file whose event is gone (its clip came after the event was removed) is removed too;
    // the files of the events there stay.
    let gone = event(500, "door", "person", now, Some(now + 1.0), &[], 0.8);
    media.save_thumbnail(&gone.id, b"late").expect("thumbnail");
    media.save_thumbnail(&rows[20].id, b"kept").expect("thumbnail");
    assert_eq!(retention::orphans(&store, &files).await.expect("orphans"), 1);
    assert!(!media.path(&gone.id, Kind::Thumbnail).expect("path").exists());
    assert!(media.path(&rows[20].id, Kind::Thumbnail).expect("path").is_file());
    store.close().await;
}

/// A series' value in `/metrics` (0 when it is not there yet).
async fn metric(web: std::net::SocketAddr, series: &str) -> f64 {
    let (status, _, body) = nvt_tests::harness::http_get(web, "/metrics", Duration::from_secs(2)).await;
    assert_eq!(status, 200);
    let text = String::from_utf8_lossy(&body).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
        .map_or(0.0, |v| v.trim().parse().expect("a number"))
}

/// The bytes of every file in `dir`, as the disk holds them (half-written clips among them).
fn bytes_in(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map_or(0, |d| d.filter_map(Result::ok).filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_server_keeps_its_history_within_the_size_cap_and_counts_what_it_removed() {
    let dir = temp_dir("history-retention-live");
    let (db, clips, log) = (dir.join("events.db"), dir.join("clips"), dir.join("events.jsonl"));
    let (port, web) = (free_port(), std::net::SocketAddr::from(([127, 0, 0, 1], free_port())));
    const CAP: u64 = 1 << 20;
    let listen = format!("127.0.0.1:{port}");
    let (web_arg, log_arg) = (web.to_string(), log.to_str().expect("utf8").to_owned());
    let (db_arg, clips_arg) = (db.to_str().expect("utf8").to_owned(), clips.to_str().expect("utf8").to_owned());
    let _server = spawn_shapes_server(
        &listen,
        &[
            "--http",
            &web_arg,
            "--events",
            &log_arg,
            "--db",
            &db_arg,
            "--clips",
            &clips_arg,
            "--clip-pre",
            "1s",
            "--clip-post",
            "3s",
            "--retain-max-size",
            "1MiB",
            "--retain-every",
            "1s",
        ],
    );
    wait_for_port(web, Duration::from_secs(30));
    let session = |size: &str| {
        let mut client = spawn(
            "nvt-client",
            &["--connect", &listen, "--source", "synthetic", "--size", size, "--fps", "10", "--duration", "2s"],
        );
        nvt_tests::harness::wait_exit(&mut client, Duration::from_secs(30));
    };
    let ids = || -> std::collections::BTreeSet<String> {
        nvt_tests::harness::read_jsonl(&log)
            .iter()
            .filter_map(|e| e["after"]["id"].as_str().map(str::to_owned))
            .collect()
    };
    // Small sessions, one after another: each leaves two events with ~250 kB clips (160x120,
    // 10 fps, a second before and three after), so that the cap is passed after a few.
    session("160x120");
    let first = ids();
    assert!(!first.is_empty(), "the first session made events");
    let mut removed = Vec::new();
    for _ in 0..5 {
        session("160x120");
        removed.push(metric(web, "nvt_history_removed_total{reason=\"size\"}").await);
    }
    assert!(removed.windows(2).all(|w| w[0] <= w[1]), "a counter: {removed:?}");
    assert!(removed.last() > Some(&0.0), "the oldest events went while the cameras streamed: {removed:?}");
    // A session whose clips alone outgrow the cap (320x240): its events end, and are removed
    // while their clips' last seconds are still being recorded; the clips then come without
    // an event, and are removed as well.
    session("320x240");
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let quiet = rows_in(&db).await.iter().all(|r| r.end_time.is_some())
            && !std::fs::read_dir(&clips)
                .expect("clips")
                .filter_map(Result::ok)
                .any(|e| e.file_name().to_string_lossy().ends_with(".part"))
            && metric(web, "nvt_history_orphans_removed_total").await >= 1.0;
        let (disk, counted) = (bytes_in(&clips), metric(web, "nvt_history_bytes").await);
        if quiet && disk <= CAP && counted <= CAP as f64 {
            break;
        }
        assert!(Instant::now() < until, "within the cap: {disk} bytes of clips, {counted} counted, cap {CAP}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Another pass, to count after the last change.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let rows = rows_in(&db).await;
    let made = ids();
    let removed = metric(web, "nvt_history_removed_total{reason=\"size\"}").await;
    assert_eq!(removed as usize, made.len() - rows.len(), "every event made is in the store or counted as removed");
    assert_eq!(metric(web, "nvt_history_removed_total{reason=\"age\"}").await, 0.0, "none is ten days old");
    assert_eq!(metric(web, "nvt_history_events").await as usize, rows.len());
    assert!(bytes_in(&clips) <= CAP, "the disk within the cap: {} bytes", bytes_in(&clips));
    // The first session's events went first, with their clips and thumbnails.
    for id in &first {
        assert!(!rows.iter().any(|r| &r.id == id), "{id} is the oldest, and went");
        for ext in ["avi", "jpg"] {
            assert!(!clips.join(format!("{id}.{ext}")).exists(), "{id}.{ext} went with its event");
        }
    }
    // What is left on disk belongs to events the store holds.
    for entry in std::fs::read_dir(&clips).expect("clips").filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let id = name.rsplit_once('.').map_or(name.as_str(), |(id, _)| id);
        assert!(rows.iter().any(|r| r.id == id), "{name} has its event");
    }
}

/// Every row of the store at `db`, read as `nvt-events` reads it (while a server may write).
async fn rows_in(db: &Path) -> Vec<EventRow> {
    let store = Store::open(&Location::Sqlite(db.to_owned()), Mode::Read).await.expect("open to read");
    let rows = store.query(&Query { limit: 10_000, ..Query::default() }).await.expect("query");
    store.close().await;
    rows
}

fn server(dir: &Path, port: u16) -> ChildGuard {
    let db = dir.join("events.db");
    let db = db.to_str().expect("utf8");
    spawn_shapes_server(&format!("127.0.0.1:{port}"), &["--db", db, "--clip-pre", "1s", "--clip-post", "1s"])
}

fn camera(port: u16, seconds: u32) -> ChildGuard {
    let connect = format!("127.0.0.1:{port}");
    let duration = format!("{seconds}s");
    spawn("nvt-client", &["--connect", &connect, "--source", "synthetic", "--fps", "10", "--duration", &duration])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_survive_a_restart_and_a_sigkill_and_none_is_left_in_progress() {
    let dir = temp_dir("history-crash");
    let db = dir.join("events.db");
    let port = free_port();
    // A server and a camera; once events are written, in progress, the server is killed.
    let killed = server(&dir, port);
    let client = camera(port, 60);
    let until = Instant::now() + Duration::from_secs(60);
    let written = loop {
        let rows = if db.exists() { rows_in(&db).await } else { Vec::new() };
        if rows.len() >= 2 && rows.iter().any(|r| r.end_time.is_none()) {
            break rows;
        }
        assert!(Instant::now() < until, "no events in progress after a minute: {rows:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    drop(killed);
    drop(client);
    let before = rows_in(&db).await;
    for row in &written {
        let kept =
            before.iter().find(|r| r.id == row.id).unwrap_or_else(|| panic!("{} was written, then lost", row.id));
        assert!(kept.last_seen() >= row.last_seen(), "{} went back in time", row.id);
    }
    assert!(before.iter().any(|r| r.end_time.is_none()), "killed in the middle of events: {before:?}");
    // Started again on the same store: the events the crash left open are ended at the last
    // frame they were seen in, and nothing is lost.
    let restarted = server(&dir, port);
    let until = Instant::now() + Duration::from_secs(10);
    let after = loop {
        let rows = rows_in(&db).await;
        if rows.iter().all(|r| r.end_time.is_some()) || Instant::now() > until {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(after.iter().map(|r| &r.id).collect::<Vec<_>>(), before.iter().map(|r| &r.id).collect::<Vec<_>>());
    for (row, was) in after.iter().zip(&before) {
        assert_eq!(row.end_time, was.end_time.or(Some(was.last_seen())), "ended at its last frame: {row:?}");
        assert!(row.end_time >= Some(row.start_time));
    }
    // The restarted server makes new events beside them, and ends them when the camera leaves.
    let mut client = camera(port, 4);
    nvt_tests::harness::wait_exit(&mut client, Duration::from_secs(30));
    let until = Instant::now() + Duration::from_secs(15);
    loop {
        let rows = rows_in(&db).await;
        let new: Vec<&EventRow> = rows.iter().filter(|r| !before.iter().any(|b| b.id == r.id)).collect();
        if new.len() >= 2 && new.iter().all(|r| r.end_time.is_some()) {
            break;
        }
        assert!(Instant::now() < until, "the restarted server's events: {rows:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // nvt-events reads the same store while the server writes it: as JSON Lines, as a table.
    let rows = rows_in(&db).await;
    let db_arg = db.to_str().expect("utf8");
    let listed = nvt_events(&["--db", db_arg, "--json"]);
    assert!(listed.status.success(), "{listed:?}");
    let listed: Vec<EventRow> =
        String::from_utf8_lossy(&listed.stdout).lines().map(|l| serde_json::from_str(l).expect("an event")).collect();
    // (A clip may be written in between: its row's has_clip turns true.)
    let ids = |rows: &[EventRow]| rows.iter().map(|r| (r.id.clone(), r.end_time)).collect::<Vec<_>>();
    assert_eq!(ids(&listed), ids(&rows), "the store's events, newest first");
    let table = nvt_events(&["--db", db_arg, "--label", "red square", "--in-progress", "0"]);
    let text = String::from_utf8_lossy(&table.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("START (UTC)"), "{text}");
    let red = rows.iter().filter(|r| r.label == "red square" && r.end_time.is_some()).count();
    assert_eq!(lines.len() - 1, red, "{text}");
    assert!(lines[1..].iter().all(|l| l.contains("red square")), "{text}");
    // What it cannot use is a clear error, never a panic.
    let missing = nvt_events(&["--db", "/nonexistent/events.db"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no such file"), "{missing:?}");
    for bad in [&["--after", "yesterday"][..], &["--has-clip", "maybe"], &["--db", "mysql://x"]] {
        let refused = nvt_events(bad);
        assert_eq!(refused.status.code(), Some(2), "{bad:?}: {refused:?}");
    }
    drop(restarted);
}

fn nvt_events(args: &[&str]) -> std::process::Output {
    Command::new(nvt_tests::harness::binary("nvt-events")).args(args).output().expect("run nvt-events")
}

#[test]
fn two_servers_on_one_machine_never_write_one_default_store() {
    use nvt_tests::harness::Logged;
    let dir = temp_dir("history-two-servers");
    let data = dir.join("data");
    let env = [("XDG_DATA_HOME", data.as_os_str())];
    let store = data.join("nvt/events.db");
    let model = nvt_tests::harness::model("shapes.onnx");
    let model = model.to_str().expect("utf8");
    let (one, two) = (format!("127.0.0.1:{}", free_port()), format!("127.0.0.1:{}", free_port()));
    // Two servers without --db: the first keeps the default store, the second is told that
    // another server (by its pid) keeps it, keeps none, and serves all the same.
    let mut first = Logged::start_env("nvt-server", &["--listen", &one, "--model", model], &env);
    let said = first.wait_for("listening", Duration::from_secs(30));
    assert!(said.contains(&format!("db={}", store.display())), "{said}");
    let holder = std::fs::read_to_string(data.join("nvt/events.db.lock")).expect("the lock file names its holder");
    let second = Logged::start_env("nvt-server", &["--listen", &two, "--model", model], &env);
    let said = second.wait_for("listening", Duration::from_secs(30));
    assert!(said.contains("this server keeps no event history"), "{said}");
    assert!(said.contains(&format!("pid {holder}")) && said.contains("--db PATH of its own"), "{said}");
    // The second's camera leaves nothing in the store; the first's does.
    let rows = |db: &Path| tokio::runtime::Runtime::new().expect("runtime").block_on(rows_in(db));
    let mut client =
        spawn("nvt-client", &["--connect", &two, "--source", "synthetic", "--fps", "10", "--duration", "2s"]);
    nvt_tests::harness::wait_exit(&mut client, Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(500));
    assert!(rows(&store).is_empty(), "the second server wrote to the first's store");
    let mut client =
        spawn("nvt-client", &["--connect", &one, "--source", "synthetic", "--fps", "10", "--duration", "2s"]);
    nvt_tests::harness::wait_exit(&mut client, Duration::from_secs(30));
    let until = Instant::now() + Duration::from_secs(10);
    while rows(&store).is_empty() {
        assert!(Instant::now() < until, "the first server's events never reached its store");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Named with --db, the same file is refused at the start, saying who holds it.
    let three = format!("127.0.0.1:{}", free_port());
    let db = store.to_str().expect("utf8");
    let mut named = Logged::start_env("nvt-server", &["--listen", &three, "--model", model, "--db", db], &env);
    let (status, said) = named.wait_exit(Duration::from_secs(30));
    assert!(!status.success(), "{said}");
    assert!(said.contains(&format!("another nvt-server keeps its events there (pid {holder})")), "{said}");
    // Once the first stops, the next server started without --db takes the store.
    let (status, _) = first.stop();
    assert!(status.success());
    let third = Logged::start_env("nvt-server", &["--listen", &three, "--model", model], &env);
    let said = third.wait_for("listening", Duration::from_secs(30));
    assert!(said.contains(&format!("db={}", store.display())) && !said.contains("keeps no event history"), "{said}");
    drop((second, third));
}
