//! One budget of open files for everything the server holds at once: client connections (plain
//! HTTP and upgraded stream sockets, which keep their connection's slot), the database's
//! connections, and the Kafka clients' sockets and wake-up pipes. Past the process's limit,
//! `accept` and `open` fail wherever they happen to be called, so the configured connection
//! limits are fitted to what is left once the database and Kafka have their share, and the
//! fitting is said at start.

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

/// Descriptors the database may hold: each SQLite connection (one writer, eight readers) keeps
/// the database, its write-ahead log and its shared-memory index open.
const DATABASE: u64 = 9 * 3 + 5;

/// Descriptors one librdkafka client may hold on a small cluster: a socket and a wake-up pipe
/// per broker it talks to, plus its own queue pipes.
const PER_KAFKA_CLIENT: u64 = 8;

/// Kafka clients that live for the whole run (admin, health checks, reconciler, rates).
const LONG_LIVED_KAFKA_CLIENTS: u64 = 4;

/// Topics assumed streamed at once, one relay feed (a Kafka consumer) each. More are served;
/// the budget only has to be right in the common case, and the margin covers the rest.
const ASSUMED_FEEDS: u64 = 64;

/// The process's own descriptors: standard streams, the runtime's poller and wake-ups, the
/// site's files being sent, logs.
const PROCESS: u64 = 64;

/// The share of connection slots kept for plain HTTP when stream sockets are at their cap, so
/// that `/api/health` and the dashboard still answer with every stream socket in use.
const HTTP_SHARE_DIVISOR: usize = 10;

/// Connections served at once when none is configured (and the open files allow them).
pub const DEFAULT_MAX_CONNECTIONS: usize = 25_000;

/// What the configuration asks for.
#[derive(Debug, Clone, Copy)]
pub struct Wanted {
    /// Connections served at once (stream sockets included); `None`: as many as the open files
    /// allow, up to [`DEFAULT_MAX_CONNECTIONS`].
    pub connections: Option<usize>,
    /// Stream sockets open at once; `None`: as many as the connections leave room for, up to
    /// [`crate::relay::DEFAULT_MAX_SOCKETS`].
    pub sockets: Option<usize>,
    /// Replays running at once (a Kafka reader each).
    pub replays: usize,
}

/// How the open files are shared out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// The open files limit the process runs under.
    pub limit: u64,
    /// Kept for the database, Kafka and the process itself.
    pub reserved: u64,
    /// Connections served at once (stream sockets included).
    pub connections: usize,
    /// Stream sockets open at once.
    pub sockets: usize,
}

impl Budget {
    /// Fits `wanted` into `limit` open files. Connections get what is left after the reserve;
    /// stream sockets get at most nine tenths of the connections, so plain requests always have
    /// room. A configured number already within the budget is kept as it is (0 sockets turns
    /// streaming off); one the budget lowers is lowered to no less than 2 connections and 1
    /// socket.
    pub fn plan(limit: u64, wanted: Wanted) -> Budget {
        let wanted_connections = wanted.connections.unwrap_or(DEFAULT_MAX_CONNECTIONS);
        let wanted_sockets = wanted.sockets.unwrap_or(crate::relay::DEFAULT_MAX_SOCKETS);
        let kafka =
            PER_KAFKA_CLIENT * (LONG_LIVED_KAFKA_CLIENTS + ASSUMED_FEEDS + wanted.replays as u64);
        let reserved = DATABASE + kafka + PROCESS;
        let room = usize::try_from(limit.saturating_sub(reserved)).unwrap_or(usize::MAX);
        let connections = match wanted_connections <= room {
            true => wanted_connections,
            false => room.max(2),
        };
        let sockets_room = connections.saturating_sub((connections / HTTP_SHARE_DIVISOR).max(1));
        let sockets = match wanted_sockets <= sockets_room {
            true => wanted_sockets,
            false => sockets_room.max(1),
        };
        Budget {
            limit,
            reserved,
            connections,
            sockets,
        }
    }

    /// The budget under this process's open files limit, after raising its soft limit to the
    /// hard one (as servers do: the usual soft limit of 1,024 would cap the relay far below its
    /// configured sockets). Logs the outcome, loudly when it lowers a configured limit.
    pub fn for_this_process(wanted: Wanted) -> Budget {
        let limit = match raise_open_files_limit() {
            Ok(limit) => limit,
            Err(e) => {
                tracing::warn!(error = %e, "could not read or raise the open files limit");
                getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
            }
        };
        let budget = Budget::plan(limit, wanted);
        // Only a number someone configured is worth a warning: the defaults are fitted quietly.
        let lowered = |configured: Option<usize>, got: usize| configured.is_some_and(|n| got < n);
        if lowered(wanted.connections, budget.connections)
            || lowered(wanted.sockets, budget.sockets)
        {
            tracing::warn!(
                open_files_limit = limit,
                reserved = budget.reserved,
                connections = budget.connections,
                configured_connections = ?wanted.connections,
                sockets = budget.sockets,
                configured_sockets = ?wanted.sockets,
                "the open files limit lowers the connections served at once; raise it (ulimit -n, \
                 systemd LimitNOFILE) to serve the configured numbers"
            );
        } else {
            tracing::info!(
                open_files_limit = limit,
                reserved = budget.reserved,
                connections = budget.connections,
                sockets = budget.sockets,
                "open files budget"
            );
        }
        budget
    }
}

/// Sets the soft limit on open files to the hard limit; returns the limit now in force.
fn raise_open_files_limit() -> Result<u64, rustix::io::Errno> {
    let Rlimit { current, maximum } = getrlimit(Resource::Nofile);
    if current != maximum {
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: maximum,
                maximum,
            },
        )?;
    }
    Ok(maximum.unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULTS: Wanted = Wanted {
        connections: None,
        sockets: None,
        replays: 16,
    };

    #[test]
    fn a_high_limit_serves_the_configured_numbers() {
        let budget = Budget::plan(1_048_576, DEFAULTS);
        assert_eq!((budget.connections, budget.sockets), (25_000, 20_000));
    }

    #[test]
    fn a_lower_limit_lowers_both_and_keeps_the_reserve_and_room_for_plain_requests() {
        let budget = Budget::plan(20_000, DEFAULTS);
        assert_eq!(budget.connections as u64 + budget.reserved, 20_000);
        assert!(budget.reserved >= DATABASE + PER_KAFKA_CLIENT * 16);
        assert!(budget.sockets <= budget.connections - budget.connections / 10);
        assert!(budget.sockets > 15_000, "{budget:?}");
    }

    #[test]
    fn more_replays_reserve_more() {
        let few = Budget::plan(20_000, DEFAULTS);
        let many = Budget::plan(
            20_000,
            Wanted {
                replays: 1_000,
                ..DEFAULTS
            },
        );
        assert_eq!(many.reserved - few.reserved, PER_KAFKA_CLIENT * 984);
    }

    #[test]
    fn configured_numbers_within_the_budget_are_kept() {
        let budget = Budget::plan(
            1_048_576,
            Wanted {
                connections: Some(1),
                sockets: Some(0),
                replays: 16,
            },
        );
        assert_eq!((budget.connections, budget.sockets), (1, 0));
    }

    #[test]
    fn defaults_fit_the_limit_and_configured_numbers_are_told_apart() {
        let fitted = Budget::plan(20_000, DEFAULTS);
        let configured = Budget::plan(
            20_000,
            Wanted {
                connections: Some(25_000),
                sockets: Some(20_000),
                replays: 16,
            },
        );
        // The same fit either way; only the configured numbers are warned about (at start).
        assert_eq!(fitted, configured);
        assert!(fitted.connections < DEFAULT_MAX_CONNECTIONS);
    }

    #[test]
    fn a_tiny_limit_still_serves_something() {
        let budget = Budget::plan(256, DEFAULTS);
        assert_eq!((budget.connections, budget.sockets), (2, 1));
    }
}
