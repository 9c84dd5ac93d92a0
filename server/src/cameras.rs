//! Camera names. A camera is named by `--camera NAME=IP` for its address, by itself (`nvt-client
//! --name`, protected mode only), or else after its peer IP without the port, so that its name
//! survives reconnects. Two cameras connected at once never share a name: the second gets `-2`,
//! the third `-3`, and so on.

use nvt_support::sync::lock;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// The names in use and those `--camera` gives.
#[derive(Debug, Default)]
pub struct Cameras {
    by_address: HashMap<IpAddr, String>,
    in_use: Arc<Mutex<HashSet<String>>>,
}

/// A camera's name, held while it is connected; dropping it frees the name.
#[derive(Debug)]
pub struct CameraName {
    name: String,
    in_use: Arc<Mutex<HashSet<String>>>,
}

impl CameraName {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.name
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
    /// A name `--camera` gives another address is never taken by a client naming itself.
    pub fn claim(&self, ip: IpAddr, given: Option<String>) -> CameraName {
        let ip = ip.to_canonical();
        let own = self.by_address.get(&ip);
        let base = given.or_else(|| own.cloned()).unwrap_or_else(|| ip.to_string());
        let reserved =
            |name: &str| own.map(String::as_str) != Some(name) && self.by_address.values().any(|n| n == name);
        let mut in_use = lock(&self.in_use);
        // Suffixed names stay within the 64 characters a name may have.
        let stem: String = base.chars().take(nvt_transport::protect::NAME_LEN - 6).collect();
        let name = (1..)
            .map(|n| if n == 1 { base.clone() } else { format!("{stem}-{n}") })
            .find(|candidate| !in_use.contains(candidate) && !reserved(candidate))
            .unwrap_or(base);
        in_use.insert(name.clone());
        CameraName { name, in_use: Arc::clone(&self.in_use) }
    }
}

/// `--camera NAME=IP`.
pub fn parse_camera(text: &str) -> Result<(String, IpAddr), String> {
    let (name, ip) = text.split_once('=').ok_or_else(|| format!("{text:?}: use NAME=IP, such as door=192.168.1.20"))?;
    if !nvt_transport::protect::valid_name(name) {
        return Err(format!("{name:?} is not a camera name: 1-64 letters, digits, '.', '_', '-' or ':'"));
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
        let first = cameras.claim(door, None);
        assert_eq!(first.as_str(), "door");
        let second = cameras.claim(door, None);
        assert_eq!(second.as_str(), "door-2", "two clients from one address get distinct names");
        let other = cameras.claim("10.0.0.6".parse().expect("ip"), None);
        assert_eq!(other.as_str(), "10.0.0.6", "no port: the name survives reconnects");
        let mapped = cameras.claim("::ffff:10.0.0.7".parse().expect("ip"), None);
        assert_eq!(mapped.as_str(), "10.0.0.7");
        let named = cameras.claim(door, Some("garage".into()));
        assert_eq!(named.as_str(), "garage", "a protected client's own name wins");
        let impostor = cameras.claim("10.0.0.9".parse().expect("ip"), Some("door".into()));
        assert_eq!(impostor.as_str(), "door-3", "a name --camera gives another address is not taken");
        let long = cameras.claim(door, Some("x".repeat(64)));
        let long_again = cameras.claim(door, Some("x".repeat(64)));
        assert!(long_again.as_str().len() <= 64 && long_again.as_str() != long.as_str());
        drop(first);
        assert_eq!(cameras.claim(door, None).as_str(), "door", "a name is free again once its camera left");
    }

    #[test]
    fn the_flag_is_checked() {
        assert_eq!(
            parse_camera("door=192.168.1.20").expect("ok"),
            ("door".into(), "192.168.1.20".parse().expect("ip"))
        );
        for bad in ["door", "=1.2.3.4", "do/or=1.2.3.4", "door=nowhere", "door=1.2.3.4:5"] {
            assert!(parse_camera(bad).is_err(), "{bad}");
        }
    }
}
