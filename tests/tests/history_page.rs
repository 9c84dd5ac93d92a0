//! The web view's history page in a real headless Chromium, against a real nvt-server whose
//! store holds known events (written before it starts, some with hostile names) and the events
//! of a real camera session (with their clips): filtered by camera and by label, paged, a clip
//! played to its last frame, and every name shown as text, never parsed as HTML.

use nvt_history::store::{Change, Mode};
use nvt_history::{EventRow, Location, Store};
use nvt_tests::browser::Browser;
use nvt_tests::harness::{free_port, spawn, spawn_shapes_server, temp_dir, wait_exit, wait_for_port};
use serde_json::json;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What a lying worker or a crafted row could name an object.
const HOSTILE: &str = "<img src=x onerror=\"document.body.dataset.pwned='label'\">";

/// An ended event of an hour ago, `n` seconds apart.
fn row(n: usize, camera: &str, label: &str) -> EventRow {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs_f64();
    let start = now - 3600.0 + n as f64;
    let event = json!({
        "id": format!("{:.6}-k{:05}", start, n),
        "camera": camera, "label": label, "sub_label": null,
        "start_time": start, "end_time": start + 2.0, "top_score": 0.8, "false_positive": false,
        "zones": [], "has_clip": false, "has_snapshot": false, "thumbnail": "",
        "retain_indefinitely": false, "plus_id": null, "model_hash": null, "detector_type": null,
        "model_type": null,
        "data": { "box": [0.1, 0.1, 0.2, 0.2], "region": [0.0, 0.0, 1.0, 1.0], "score": 0.8,
                  "top_score": 0.8, "type": "object", "frame_time": start + 2.0 }
    });
    serde_json::from_value(event).expect("a row")
}

/// The page's events now: each one's id, its text, and whether it has a clip button.
const SHOWN: &str = "[...document.querySelectorAll('#event-list li.event')].map(li => \
     [li.dataset.id, li.textContent, li.querySelector('button.clip') !== null])";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_page_filters_pages_plays_clips_and_shows_names_as_text() {
    let dir = temp_dir("history-page");
    let db = dir.join("events.db");
    // 25 people at the door, 5 cars in the yard, and one event named by a hostile peer, on a
    // camera named so too: all ended an hour ago.
    let mut rows: Vec<EventRow> = (0..25).map(|n| row(n, "door", "person")).collect();
    rows.extend((25..30).map(|n| row(n, "yard", "car")));
    rows.push(row(30, "<b>cam</b>", HOSTILE));
    let store = Store::open(&Location::Sqlite(db.clone()), Mode::Write).await.expect("store");
    let changes: Vec<Change> = rows.iter().map(|r| Change::Event(Box::new(r.clone()))).collect();
    store.write(&changes).await.expect("write");
    store.close().await;
    drop(store);

    let (port, web) = (free_port(), std::net::SocketAddr::from(([127, 0, 0, 1], free_port())));
    let listen = format!("127.0.0.1:{port}");
    let (db_arg, clips) = (db.to_str().expect("utf8").to_owned(), dir.join("clips"));
    let web_arg = web.to_string();
    let _server = spawn_shapes_server(
        &listen,
        &[
            "--http",
            &web_arg,
            "--db",
            &db_arg,
            "--clips",
            clips.to_str().expect("utf8"),
            "--clip-pre",
            "1s",
            "--clip-post",
            "1s",
        ],
    );
    wait_for_port(web, Duration::from_secs(30));
    // A real camera: its events are the newest, each with a clip once it is written.
    let mut camera = spawn(
        "nvt-client",
        &["--connect", &listen, "--source", "synthetic", "--size", "320x240", "--fps", "10", "--duration", "2s"],
    );
    wait_exit(&mut camera, Duration::from_secs(30));
    let until = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, _, body) = nvt_tests::harness::http_get(web, "/api/events?has_clip=1", Duration::from_secs(2)).await;
        let with_clip: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap_or_default();
        if !with_clip.is_empty() {
            break;
        }
        assert!(std::time::Instant::now() < until, "no clip written");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let browser = Browser::launch(&dir, &[]);
    let mut page = browser.open(&format!("http://{web}/")).await;
    let first =
        page.wait_for(&format!("document.body.dataset.events === '20' && {SHOWN}"), Duration::from_secs(20)).await;
    let first = first.expect("the first page of twenty");
    let first = first.as_array().expect("rows").clone();
    let known = |r: &serde_json::Value| rows.iter().any(|k| r[0] == k.id.as_str());
    // Only the events with a clip have a player button.
    let with_player: Vec<&serde_json::Value> = first.iter().filter(|r| r[2] == true).collect();
    assert!(!with_player.is_empty(), "the camera's events have clips: {first:?}");
    assert!(with_player.iter().all(|r| !known(r)), "no known event (none has a clip) shows a player: {first:?}");
    // The hostile names are text: no element made of them, no script run.
    let hostile =
        first.iter().find(|r| r[1].as_str().is_some_and(|t| t.contains("onerror"))).expect("the hostile event");
    assert!(
        hostile[1].as_str().expect("text").contains(HOSTILE)
            && hostile[1].as_str().expect("text").contains("<b>cam</b>")
    );
    let made =
        page.eval("document.querySelectorAll('#event-list img:not([alt=thumbnail]), #event-list b b').length").await;
    assert_eq!(made, 0, "an element made of a name");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(page.eval("document.body.dataset.pwned === undefined").await, true, "a name's script ran");

    // Older: the next twenty start where the first ended, none twice.
    page.eval("document.getElementById('page-older').click()").await;
    let second = page
        .wait_for(
            &format!("document.getElementById('page-info').textContent.startsWith('21') && {SHOWN}"),
            Duration::from_secs(10),
        )
        .await
        .expect("the second page");
    let second = second.as_array().expect("rows").clone();
    let total = rows.len() + first.iter().filter(|r| !known(r)).count();
    assert_eq!(second.len(), (total - 20).min(20), "{second:?}");
    assert!(second.iter().all(|r| !first.iter().any(|f| f[0] == r[0])), "a page repeats an event");
    page.eval("document.getElementById('page-newer').click()").await;
    page.wait_for("document.getElementById('page-info').textContent.startsWith('1–')", Duration::from_secs(10))
        .await
        .expect("back to the first page");

    // Filtered by camera, then by label.
    let filter = |camera: &str, label: &str| {
        format!(
            "document.getElementById('filter-camera').value = {camera:?}; \
             document.getElementById('filter-label').value = {label:?}; \
             document.getElementById('history-filter').requestSubmit(); true"
        )
    };
    page.eval(&filter("yard", "")).await;
    let yard = page
        .wait_for(&format!("document.body.dataset.events === '5' && {SHOWN}"), Duration::from_secs(10))
        .await
        .expect("the yard's five");
    assert!(yard
        .as_array()
        .expect("rows")
        .iter()
        .all(|r| r[1].as_str().is_some_and(|t| t.contains("yard") && t.contains("car"))));
    page.eval(&filter("", HOSTILE)).await;
    let named = page
        .wait_for(&format!("document.body.dataset.events === '1' && {SHOWN}"), Duration::from_secs(10))
        .await
        .expect("the one event of that label");
    assert!(named[0][1].as_str().expect("text").contains(HOSTILE));
    page.eval(&filter("door", "person")).await;
    let door = format!("document.body.dataset.events === '20' && {SHOWN}.every(r => r[1].includes('door'))");
    page.wait_for(&door, Duration::from_secs(10)).await.expect("the door's first twenty");
    page.eval("document.getElementById('page-older').click()").await;
    let rest = page
        .wait_for(&format!("document.body.dataset.events === '5' && {SHOWN}"), Duration::from_secs(10))
        .await
        .expect("the door's last five");
    assert!(rest
        .as_array()
        .expect("rows")
        .iter()
        .all(|r| r[1].as_str().is_some_and(|t| t.contains("door") && t.contains("person"))));

    // A clip plays in the page's player, every frame of it, at the clip's size.
    page.eval(&filter("", "")).await;
    page.wait_for(
        "document.body.dataset.events === '20' && document.querySelector('#event-list button.clip')",
        Duration::from_secs(10),
    )
    .await
    .expect("a clip button");
    page.eval("document.querySelector('#event-list button.clip').click()").await;
    let played = page
        .wait_for(
            "(() => { const d = document.getElementById('player'); const n = Number(d.dataset.frames); \
             return d.open && n > 0 && Number(d.dataset.shown) === n && [n, document.getElementById('player-canvas').width]; })()",
            Duration::from_secs(30),
        )
        .await
        .expect("the clip played to its last frame");
    assert!(played[0].as_u64().expect("frames") >= 10, "about 2 s at 10 fps, and more: {played}");
    assert_eq!(played[1], 320, "drawn at the frames' own width");
}
