//! Who gets a connection slot: at most `--max-clients` at once, and at most
//! `--max-clients-per-ip` from any one address, so that one host cannot hold every slot.

use nvt_support::sync::lock;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// The slots in use, in all and per address.
#[derive(Debug)]
pub struct Admission {
    total: usize,
    per_ip: usize,
    held: Mutex<Held>,
}

#[derive(Debug, Default)]
struct Held {
    total: usize,
    by_ip: HashMap<IpAddr, usize>,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Every slot is taken.
    Full,
    /// This address holds its share already.
    PerAddress,
}

/// A slot, given back when dropped.
#[derive(Debug)]
pub struct Slot {
    admission: Arc<Admission>,
    ip: IpAddr,
}

impl Admission {
    /// `total` slots, at most `per_ip` of them for one address.
    pub fn new(total: usize, per_ip: usize) -> Arc<Self> {
        Arc::new(Self { total, per_ip, held: Mutex::default() })
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        lock(&self.held)
    }

    /// A slot for a connection from `ip`, or why not. Addresses that one host can pick from at
    /// will count as one: all of loopback, and each IPv6 /64.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Refusal> {
        let ip = host_of(ip);
        let mut held = self.held();
        self.refusal(&held, ip)?;
        *held.by_ip.entry(ip).or_default() += 1;
        held.total += 1;
        Ok(Slot { admission: Arc::clone(self), ip })
    }

    /// Whether a connection from `ip` would get a slot now, taking none.
    pub fn would_admit(&self, ip: IpAddr) -> Result<(), Refusal> {
        self.refusal(&self.held(), host_of(ip))
    }

    /// Why a connection from the host `ip` gets no slot, if it does not.
    fn refusal(&self, held: &Held, ip: IpAddr) -> Result<(), Refusal> {
        if held.total >= self.total {
            return Err(Refusal::Full);
        }
        if held.by_ip.get(&ip).copied().unwrap_or(0) >= self.per_ip {
            return Err(Refusal::PerAddress);
        }
        Ok(())
    }

    /// Slots in use now.
    pub fn in_use(&self) -> usize {
        self.held().total
    }
}

/// The address that stands for every address the same host could connect from: loopback as
/// one, an IPv6 /64 as one.
pub(crate) fn host_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) if v4.is_loopback() => IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => host_of(IpAddr::V4(v4)),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self.admission.held();
        held.total = held.total.saturating_sub(1);
        if let Some(n) = held.by_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                held.by_ip.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asking_takes_no_slot() {
        let admission = Admission::new(2, 1);
        assert_eq!(admission.would_admit([10, 0, 0, 1].into()), Ok(()));
        assert_eq!(admission.in_use(), 0, "asking took nothing");
        let _a = admission.admit([10, 0, 0, 1].into()).expect("first");
        assert_eq!(admission.would_admit([10, 0, 0, 1].into()), Err(Refusal::PerAddress));
        let _b = admission.admit([10, 0, 0, 2].into()).expect("second");
        assert_eq!(admission.would_admit([10, 0, 0, 3].into()), Err(Refusal::Full));
        assert_eq!(admission.in_use(), 2);
    }

    #[test]
    fn loopback_and_an_ipv6_slash_64_count_as_one_host() {
        let admission = Admission::new(10, 2);
        let _a = admission.admit([127, 0, 0, 1].into()).expect("first");
        let _b = admission.admit([127, 0, 0, 2].into()).expect("second");
        assert_eq!(admission.admit([127, 9, 9, 9].into()).expect_err("loopback is one host"), Refusal::PerAddress);
        let v6 = |last: u16| IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0, 0, 0, last));
        let _c = admission.admit(v6(1)).expect("first");
        let _d = admission.admit(v6(2)).expect("second");
        assert_eq!(admission.admit(v6(3)).expect_err("one /64"), Refusal::PerAddress);
        let mapped: IpAddr = "::ffff:127.0.0.5".parse().expect("mapped");
        assert_eq!(admission.admit(mapped).expect_err("mapped loopback"), Refusal::PerAddress);
    }

    #[test]
    fn one_address_gets_its_share_and_the_rest_stay_for_others() {
        let admission = Admission::new(4, 2);
        let (a, b): (IpAddr, IpAddr) = ([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
        let a1 = admission.admit(a).expect("first");
        let _a2 = admission.admit(a).expect("second");
        assert_eq!(admission.admit(a).expect_err("third"), Refusal::PerAddress);
        let _b1 = admission.admit(b).expect("another address");
        let _b2 = admission.admit(b).expect("another address");
        assert_eq!(admission.admit([10, 0, 0, 3].into()).expect_err("full"), Refusal::Full);
        drop(a1);
        assert_eq!(admission.in_use(), 3);
        let _again = admission.admit(a).expect("a slot given back is free again");
    }
}
