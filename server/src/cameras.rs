//! Camera names. A camera is named by `--camera NAME=IP` for its address, by itself (`nvt-client
//! --name`, protected mode only), or else after its peer IP without the port, so that its name
//! survives reconnects (`192.168.1.20` is `192_168_1_20`, `fd00::7` is `fd00__7`). Every name
//! is one Frigate allows (`^[a-zA-Z0-9_-]+$`), so it is the same, as it is, in topics, events,
//! metrics, snapshots, the web view and NATS subjects. Two cameras connected at once never
//! share a name: the second gets `-2`, the third `-3`, and so on. A camera that reconnects while
//! its last connection is still being torn down (its objects ending, MQTT and NATS told) waits
//! for that, up to [`HANDOVER`], and keeps its name: no `-2`, and no new events or Home
//! Assistant entities under another name.

use nvt_support::sync::lock;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The longest a reconnecting camera waits for its last connection's teardown to free its name.
pub const HANDOVER: Duration = Duration::from_secs(10);

/// Names in use, each with whether its connection is leaving (torn down now).
type InUse = Arc<Mutex<HashMap<String, bool>>>;

/// The names in use and those `--camera` gives.
#[derive(Debug, Default)]
pub struct Cameras {
    by_address: HashMap<IpAddr, String>,
    in_use: InUse,
}

/// A camera's name, held while it is connected; dropping it frees the name.
#[derive(Debug)]
pub struct CameraName {
    name: String,
    in_use: InUse,
}

impl CameraName {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// Its connection has ended and is being torn down: the same camera connecting again waits
    /// for the name instead of taking another.
    pub fn leaving(&self) {
        if let Some(leaving) = lock(&self.in_use).get_mut(&self.name) {
            *leaving = true;
        }
    }
}

impl Drop for CameraName {
    fn drop(&mut self) {
        lock(&self.in_use).remove(&self.name);
    }
}

impl Cameras {
    /// Names from `--camera NAME=IP` pairs.
    pub fn new(named: Vec<(String, IpAddr)>) -> Self {
        Self { by_address: named.into_iter().map(|(name, ip)| (ip, name)).collect(), in_use: Arc::default() }
    }

    /// The name of a camera connecting from `ip`, that gave itself `given` (protected mode).
    /// A name `--camera` gives another address is never taken by a client naming itself. When
    /// the name is held by a connection being torn down (this camera's last), waits for it, up
    /// to `handover`.
    pub async fn claim(&self, ip: IpAddr, given: Option<String>, handover: Duration) -> CameraName {
        let ip = ip.to_canonical();
        let base = given.clone().or_else(|| self.by_address.get(&ip).cloned()).unwrap_or_else(|| address_name(ip));
        let until = tokio::time::Instant::now() + handover;
        while lock(&self.in_use).get(&base) == Some(&true) && tokio::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.claim_now(ip, given)
    }

    /// [`Cameras::claim`] without waiting: a name held at all takes a suffix.
    pub fn claim_now(&self, ip: IpAddr, given: Option<String>) -> CameraName {
        let ip = ip.to_canonical();
        let own = self.by_address.get(&ip);
        let base = given.or_else(|| own.cloned()).unwrap_or_else(|| address_name(ip));
        let reserved =
            |name: &str| own.map(String::as_str) != Some(name) && self.by_address.values().any(|n| n == name);
        let mut in_use = lock(&self.in_use);
        // Suffixed names stay within the 64 characters a name may have.
        let stem: String = base.chars().take(nvt_transport::protect::NAME_LEN - 6).collect();
        let name = (1..)
            .map(|n| if n == 1 { base.clone() } else { format!("{stem}-{n}") })
            .find(|candidate| !in_use.contains_key(candidate) && !reserved(candidate))
            .unwrap_or(base);
        in_use.insert(name.clone(), false);
        CameraName { name, in_use: Arc::clone(&self.in_use) }
    }
}

/// The name of a camera known only by its address: the IP with `.` and `:` made `_`
/// (`192.168.1.20` is `192_168_1_20`). One to one: an IPv4 name has three single `_`, an IPv6 one
/// seven or a double `_`.
pub fn address_name(ip: IpAddr) -> String {
    ip.to_canonical().to_string().replace(['.', ':'], "_")
}

/// Checks the `--camera` pairs as a whole: no name or address given twice.
pub fn check_cameras(named: &[(String, IpAddr)]) -> Result<(), String> {
    for (i, (name, ip)) in named.iter().enumerate() {
        if let Some((_, other)) = named[..i].iter().find(|(n, _)| n == name) {
            return Err(format!("--camera {name:?} is given twice ({other} and {ip}): a name names one camera"));
        }
        if let Some((other, _)) = named[..i].iter().find(|(_, a)| a == ip) {
            return Err(format!("--camera: {ip} is named twice ({other:?} and {name:?})"));
        }
    }
    Ok(())
}

/// `--camera NAME=IP`.
pub fn parse_camera(text: &str) -> Result<(String, IpAddr), String> {
    let (name, ip) = text.split_once('=').ok_or_else(|| format!("{text:?}: use NAME=IP, such as door=192.168.1.20"))?;
    if !nvt_transport::protect::valid_name(name) {
        return Err(format!(
            "{name:?} is not a camera name: 1-64 letters, digits, '_' or '-' (the names Frigate allows)"
        ));
    }
    let ip: IpAddr = ip.parse().map_err(|_| format!("{ip:?} is not an IP address"))?;
    Ok((name.to_owned(), ip.to_canonical()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_flag_the_client_or_the_address_and_never_clash() {
        let door: IpAddr = "10.0.0.5".parse().expect("ip");
        let cameras = Cameras::new(vec![("door".into(), door)]);
        let first = cameras.claim_now(door, None);
        assert_eq!(first.as_str(), "door");
        let second = cameras.claim_now(door, None);
        assert_eq!(second.as_str(), "door-2", "two clients from one address get distinct names");
        let other = cameras.claim_now("10.0.0.6".parse().expect("ip"), None);
        assert_eq!(other.as_str(), "10_0_0_6", "no port: the name survives reconnects");
        let mapped = cameras.claim_now("::ffff:10.0.0.7".parse().expect("ip"), None);
        assert_eq!(mapped.as_str(), "10_0_0_7");
        let six = cameras.claim_now("fd00::7".parse().expect("ip"), None);
        assert_eq!(six.as_str(), "fd00__7");
        for name in [other.as_str(), mapped.as_str(), six.as_str()] {
            assert!(nvt_transport::protect::valid_name(name), "{name}");
        }
        let named = cameras.claim_now(door, Some("garage".into()));
        assert_eq!(named.as_str(), "garage", "a protected client's own name wins");
        let impostor = cameras.claim_now("10.0.0.9".parse().expect("ip"), Some("door".into()));
        assert_eq!(impostor.as_str(), "door-3", "a name --camera gives another address is not taken");
        let long = cameras.claim_now(door, Some("x".repeat(64)));
        let long_again = cameras.claim_now(door, Some("x".repeat(64)));
        assert!(long_again.as_str().len() <= 64 && long_again.as_str() != long.as_str());
        drop(first);
        assert_eq!(cameras.claim_now(door, None).as_str(), "door", "a name is free again once its camera left");
    }

    #[tokio::test(start_paused = true)]
    async fn a_camera_reconnecting_during_its_teardown_keeps_its_name() {
        let door: IpAddr = "10.0.0.5".parse().expect("ip");
        let cameras = Arc::new(Cameras::new(vec![("door".into(), door)]));
        let first = cameras.claim(door, None, HANDOVER).await;
        // Still connected: a second client from the address is another camera.
        let second = cameras.claim(door, None, HANDOVER).await;
        assert_eq!(second.as_str(), "door-2");
        drop(second);
        // Its connection ended; the teardown takes 3 s while the camera is back at once.
        first.leaving();
        let waiting = tokio::spawn({
            let cameras = Arc::clone(&cameras);
            async move { cameras.claim(door, None, HANDOVER).await.as_str().to_owned() }
        });
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(!waiting.is_finished(), "waits for the teardown");
        drop(first);
        assert_eq!(waiting.await.expect("claim"), "door", "the same name, not door-2");
        // A teardown that never ends holds no one back past the handover.
        let stuck = cameras.claim("10.0.0.8".parse().expect("ip"), None, HANDOVER).await;
        stuck.leaving();
        let started = tokio::time::Instant::now();
        let other = cameras.claim("10.0.0.8".parse().expect("ip"), None, HANDOVER).await;
        assert_eq!(other.as_str(), "10_0_0_8-2");
        assert!(started.elapsed() >= HANDOVER && started.elapsed() < HANDOVER + Duration::from_secs(1));
    }

    #[test]
    fn the_flag_is_checked() {
        assert_eq!(
            parse_camera("door=192.168.1.20").expect("ok"),
            ("door".into(), "192.168.1.20".parse().expect("ip"))
        );
        for bad in ["door", "=1.2.3.4", "do/or=1.2.3.4", "front.door=1.2.3.4", "door=nowhere", "door=1.2.3.4:5"] {
            assert!(parse_camera(bad).is_err(), "{bad}");
        }
        let error = parse_camera("front.door=1.2.3.4").expect_err("refused");
        assert!(error.contains("'_' or '-'"), "{error}");
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().expect("ip"), "10.0.0.2".parse().expect("ip"));
        assert!(check_cameras(&[("door".into(), a), ("yard".into(), b)]).is_ok());
        assert!(check_cameras(&[("door".into(), a), ("door".into(), b)]).is_err(), "one name, two cameras");
        assert!(check_cameras(&[("door".into(), a), ("yard".into(), a)]).is_err(), "one address, two names");
    }
}
