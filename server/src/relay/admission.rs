//! Who may open a socket: a cap on sockets in all and per client address, and the slot a
//! socket holds until it closes. Nothing here reads a frame or the store.

use super::Relay;
use std::{net::IpAddr, sync::atomic::Ordering};

/// Why [`Relay::admit`] turned a socket away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdmissionRefusal {
    /// The relay serves its maximum of sockets (503: try later).
    Full,
    /// This address has its maximum of sockets open (429: close some first).
    TooManyFromAddress,
}

/// Holds a connection slot; frees it when dropped.
pub struct ConnectionSlot {
    relay: Relay,
    /// The address the slot counts against, if the socket's address is known.
    pub(super) addr: Option<IpAddr>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let inner = &self.relay.inner;
        inner.stats.connections.fetch_sub(1, Ordering::AcqRel);
        if let Some(addr) = self.addr {
            let mut per_addr = inner.per_addr.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(count) = per_addr.get_mut(&addr) {
                *count -= 1;
                if *count == 0 {
                    per_addr.remove(&addr);
                }
            }
        }
    }
}

impl Relay {
    /// Takes a connection slot, or says which limit is reached.
    pub fn admit(&self, addr: Option<IpAddr>) -> Result<ConnectionSlot, AdmissionRefusal> {
        // Counted per client: an IPv6 host by its /64.
        let addr = addr.map(crate::rate_limit::client_of);
        let inner = &self.inner;
        let mut per_addr = inner.per_addr.lock().unwrap_or_else(|p| p.into_inner());
        let total = inner.stats.connections.load(Ordering::Acquire);
        let from_addr = addr.and_then(|a| per_addr.get(&a).copied()).unwrap_or(0);
        let refusal = if total >= inner.limits.max_connections {
            Some(AdmissionRefusal::Full)
        } else if from_addr >= inner.limits.max_per_addr {
            Some(AdmissionRefusal::TooManyFromAddress)
        } else {
            None
        };
        if let Some(refusal) = refusal {
            inner
                .stats
                .refused_connections
                .fetch_add(1, Ordering::Relaxed);
            return Err(refusal);
        }
        if let Some(addr) = addr {
            *per_addr.entry(addr).or_default() += 1;
        }
        inner.stats.connections.fetch_add(1, Ordering::AcqRel);
        inner
            .stats
            .connections_total
            .fetch_add(1, Ordering::Relaxed);
        Ok(ConnectionSlot {
            relay: self.clone(),
            addr,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{kafka::KafkaArgs, relay::RelayLimits};

    #[test]
    fn sockets_are_refused_per_address_first_and_in_all_last_and_slots_come_back() {
        let limits = RelayLimits {
            max_connections: 3,
            max_per_addr: 2,
            ..RelayLimits::default()
        };
        let relay = Relay::new(
            KafkaArgs::for_bootstrap("127.0.0.1:9"),
            limits,
            crate::access::masking::MaskKey::new(b"test"),
            crate::schema::Schemas::none(),
        );
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let first = relay.admit(Some(a)).unwrap();
        let _second = relay.admit(Some(a)).unwrap();
        assert_eq!(
            relay.admit(Some(a)).err(),
            Some(AdmissionRefusal::TooManyFromAddress)
        );
        let _third = relay.admit(Some(b)).unwrap();
        assert_eq!(relay.admit(Some(b)).err(), Some(AdmissionRefusal::Full));
        drop(first);
        assert!(
            relay.admit(Some(a)).is_ok(),
            "a closed socket frees its slots"
        );
        assert_eq!(relay.stats().refused_connections.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn an_ipv6_host_counts_by_its_64_as_in_every_other_limit() {
        let limits = RelayLimits {
            max_per_addr: 2,
            ..RelayLimits::default()
        };
        let relay = Relay::new(
            KafkaArgs::for_bootstrap("127.0.0.1:9"),
            limits,
            crate::access::masking::MaskKey::new(b"test"),
            crate::schema::Schemas::none(),
        );
        let host = |n: u16| -> IpAddr { format!("2001:db8:0:1::{n:x}").parse().unwrap() };
        let _a = relay.admit(Some(host(1))).unwrap();
        let _b = relay.admit(Some(host(2))).unwrap();
        assert_eq!(
            relay.admit(Some(host(3))).err(),
            Some(AdmissionRefusal::TooManyFromAddress),
            "another address of the same /64 is the same host"
        );
        assert!(relay
            .admit(Some("2001:db8:0:2::1".parse().unwrap()))
            .is_ok());
    }
}
