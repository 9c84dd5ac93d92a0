//! Who gets a connection slot: at most `--max-clients` at once, and at most
//! `--max-clients-per-ip` from any one address, so that one host cannot hold every slot.

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
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A slot for a connection from `ip`, or why not.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Refusal> {
        let mut held = self.held();
        if held.total >= self.total {
            return Err(Refusal::Full);
        }
        let mine = held.by_ip.entry(ip).or_default();
        if *mine >= self.per_ip {
            return Err(Refusal::PerAddress);
        }
        *mine += 1;
        held.total += 1;
        Ok(Slot { admission: Arc::clone(self), ip })
    }

    /// Slots in use now.
    pub fn in_use(&self) -> usize {
        self.held().total
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
