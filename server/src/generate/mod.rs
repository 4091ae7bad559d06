//! Realistic typed events for the producer daemon: sensor readings, weather observations,
//! payments, service logs and user activity.
//!
//! Each generator keeps a small population (devices, stations, users, services) whose state
//! drifts over time, so a viewer sees plausible series rather than noise: correlated fields,
//! daily cycles, and a small rate of anomalies to spot (sensor spikes, declined and suspicious
//! payments, error bursts). The same seed gives the same sequence of values.
//!
//! Records are written into caller-owned buffers (no allocation per record once warm), as JSON
//! with a common envelope: `event_id`, `event_type`, `schema_version`, `timestamp`.

mod logs;
mod payment;
mod sensor;
mod user_activity;
mod weather;

use app::domain::EventType;
use rand::{rngs::SmallRng, Rng, SeedableRng};
use serde::Serialize;
use std::fmt::Write as _;

/// Version of every record schema; bumped when a field changes meaning or is removed.
pub const SCHEMA_VERSION: u32 = 1;

/// One generated record: its partitioning key and JSON payload.
#[derive(Debug, Default, Clone)]
pub struct Record {
    pub key: String,
    pub payload: Vec<u8>,
}

/// The fields every record starts with.
#[derive(Serialize)]
struct Envelope<'a, T: Serialize> {
    event_id: &'a str,
    event_type: &'static str,
    schema_version: u32,
    timestamp: &'a str,
    #[serde(flatten)]
    data: T,
}

/// A source of one topic's records.
pub trait Generator: Send {
    /// Writes the next record into `out` (its buffers are cleared first).
    fn next_into(&mut self, out: &mut Record);
    /// The type of events it makes.
    fn event_type(&self) -> EventType;
}

/// What each type-specific generator needs from the shared machinery.
trait Events: Send {
    const TYPE: EventType;
    /// The next event's key (written into `key`) and body.
    fn next_event(&mut self, rng: &mut SmallRng, now: &Now, key: &mut String) -> impl Serialize;
}

/// Where a generator reads the time: the wall clock, or a fixed instant in tests.
type Clock = fn() -> chrono::DateTime<chrono::Utc>;

/// The current time (from the generator's clock), formatted once per millisecond.
pub struct Now {
    millis: i64,
    text: String,
}

impl Now {
    fn new(clock: Clock) -> Self {
        let mut now = Self {
            millis: i64::MIN,
            text: String::new(),
        };
        now.refresh(clock);
        now
    }

    fn refresh(&mut self, clock: Clock) {
        let time = clock();
        let millis = time.timestamp_millis();
        if millis != self.millis {
            self.millis = millis;
            self.text.clear();
            let _ = write!(self.text, "{}", time.format("%Y-%m-%dT%H:%M:%S%.3fZ"));
        }
    }

    /// A fixed instant, so tests can cover every hour of the day, not only the hour they run in.
    #[cfg(test)]
    fn at(millis: i64) -> Self {
        Self {
            millis,
            text: String::new(),
        }
    }

    /// Hours since midnight UTC, fractional (for daily cycles).
    pub fn utc_hours(&self) -> f64 {
        (self.millis.rem_euclid(86_400_000)) as f64 / 3_600_000.0
    }
}

struct Driver<E: Events> {
    events: E,
    rng: SmallRng,
    clock: Clock,
    now: Now,
    run_id: u32,
    seq: u64,
    event_id: String,
}

impl<E: Events> Generator for Driver<E> {
    fn next_into(&mut self, out: &mut Record) {
        self.now.refresh(self.clock);
        self.seq += 1;
        self.event_id.clear();
        let _ = write!(self.event_id, "{:08x}-{:012x}", self.run_id, self.seq);
        out.key.clear();
        out.payload.clear();
        let data = self
            .events
            .next_event(&mut self.rng, &self.now, &mut out.key);
        let envelope = Envelope {
            event_id: &self.event_id,
            event_type: E::TYPE.as_str(),
            schema_version: SCHEMA_VERSION,
            timestamp: &self.now.text,
            data,
        };
        // Serialising plain structs of numbers and strings into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut out.payload, &envelope);
    }

    fn event_type(&self) -> EventType {
        E::TYPE
    }
}

/// A generator of `event_type` records. `seed` fixes the values (not the timestamps, nor what
/// follows the time of day, like the weather's daily cycle); `stream` tells apart generators of
/// the same type (say, the topic name) and goes into event ids.
pub fn generator(event_type: EventType, seed: u64, stream: &str) -> Box<dyn Generator> {
    generator_with_clock(event_type, seed, stream, chrono::Utc::now)
}

fn generator_with_clock(
    event_type: EventType,
    seed: u64,
    stream: &str,
    clock: Clock,
) -> Box<dyn Generator> {
    let stream_hash = stream.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let mut rng = SmallRng::seed_from_u64(seed ^ stream_hash);
    let run_id = rng.random();
    fn boxed<E: Events + 'static>(
        events: E,
        rng: SmallRng,
        run_id: u32,
        clock: Clock,
    ) -> Box<dyn Generator> {
        Box::new(Driver {
            events,
            rng,
            clock,
            now: Now::new(clock),
            run_id,
            seq: 0,
            event_id: String::with_capacity(24),
        })
    }
    match event_type {
        EventType::Sensor => {
            let e = sensor::Sensors::new(&mut rng);
            boxed(e, rng, run_id, clock)
        }
        EventType::Weather => {
            let e = weather::Stations::new(&mut rng);
            boxed(e, rng, run_id, clock)
        }
        EventType::Payment => {
            let e = payment::Payments::new(&mut rng);
            boxed(e, rng, run_id, clock)
        }
        EventType::Logs => {
            let e = logs::Services::new(&mut rng);
            boxed(e, rng, run_id, clock)
        }
        EventType::UserActivity => {
            let e = user_activity::Users::new(&mut rng);
            boxed(e, rng, run_id, clock)
        }
    }
}

/// A standard normal sample (Box–Muller), so that no distribution crate is needed.
fn normal(rng: &mut SmallRng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Picks from `(item, weight)` pairs.
fn weighted<T: Copy>(rng: &mut SmallRng, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut pick = rng.random_range(0..total.max(1));
    for (item, weight) in items {
        if pick < *weight {
            return *item;
        }
        pick -= weight;
    }
    items[0].0
}

/// Rounds to `places` decimals (values people read, not float noise).
fn round(value: f64, places: i32) -> f64 {
    let factor = 10_f64.powi(places);
    (value * factor).round() / factor
}

#[cfg(test)]
mod tests;
