//! Industrial sensor readings: each device measures one quantity that drifts around its own set
//! point (mean-reverting random walk), its battery drains and is replaced, and now and then a
//! reading spikes far out of range (status `anomaly`).

use super::{normal, round, Events, Now};
use app::domain::EventType;
use rand::{rngs::SmallRng, Rng};
use serde::Serialize;
use std::fmt::Write;

#[derive(Clone, Copy)]
struct Kind {
    name: &'static str,
    /// Used in device ids.
    short: &'static str,
    unit: &'static str,
    /// Typical set point and spread of set points between devices.
    mean: f64,
    spread: f64,
    /// Step noise and the band outside which a reading is a warning.
    noise: f64,
    warn_low: f64,
    warn_high: f64,
    min: f64,
}

const KINDS: [Kind; 5] = [
    Kind {
        name: "temperature",
        short: "temp",
        unit: "celsius",
        mean: 21.0,
        spread: 3.0,
        noise: 0.15,
        warn_low: 10.0,
        warn_high: 32.0,
        min: -40.0,
    },
    Kind {
        name: "humidity",
        short: "hum",
        unit: "percent_rh",
        mean: 45.0,
        spread: 8.0,
        noise: 0.6,
        warn_low: 20.0,
        warn_high: 75.0,
        min: 0.0,
    },
    Kind {
        name: "pressure",
        short: "pres",
        unit: "hpa",
        mean: 1013.0,
        spread: 4.0,
        noise: 0.2,
        warn_low: 980.0,
        warn_high: 1040.0,
        min: 800.0,
    },
    Kind {
        name: "vibration",
        short: "vib",
        unit: "mm_per_s",
        mean: 2.2,
        spread: 0.8,
        noise: 0.15,
        warn_low: 0.0,
        warn_high: 7.1,
        min: 0.0,
    },
    Kind {
        name: "co2",
        short: "co2",
        unit: "ppm",
        mean: 650.0,
        spread: 120.0,
        noise: 12.0,
        warn_low: 300.0,
        warn_high: 1400.0,
        min: 380.0,
    },
];

const SITES: [&str; 4] = ["plant-berlin", "plant-lyon", "warehouse-porto", "lab-oslo"];
const DEVICES: usize = 48;
const ANOMALY_RATE: f64 = 0.005;

struct Device {
    id: String,
    site: &'static str,
    kind: Kind,
    set_point: f64,
    value: f64,
    battery: f64,
    firmware: &'static str,
}

/// The sensor fleet.
pub struct Sensors {
    devices: Vec<Device>,
}

impl Sensors {
    pub fn new(rng: &mut SmallRng) -> Self {
        let devices = (0..DEVICES)
            .map(|i| {
                let kind = KINDS[i % KINDS.len()];
                let set_point = kind.mean + normal(rng) * kind.spread;
                let mut id = String::new();
                let _ = write!(id, "sensor-{}-{i:03}", kind.short);
                Device {
                    id,
                    site: SITES[rng.random_range(0..SITES.len())],
                    kind,
                    set_point,
                    value: set_point,
                    battery: rng.random_range(40.0..100.0),
                    firmware: if rng.random_bool(0.8) {
                        "2.4.1"
                    } else {
                        "2.3.7"
                    },
                }
            })
            .collect();
        Self { devices }
    }
}

#[derive(Serialize)]
pub struct Reading<'a> {
    device_id: &'a str,
    site: &'static str,
    sensor_type: &'static str,
    value: f64,
    unit: &'static str,
    battery_pct: f64,
    firmware: &'static str,
    status: &'static str,
}

impl Events for Sensors {
    const TYPE: EventType = EventType::Sensor;

    fn next_event(&mut self, rng: &mut SmallRng, _now: &Now, key: &mut String) -> impl Serialize {
        let i = rng.random_range(0..self.devices.len());
        let device = &mut self.devices[i];
        let kind = device.kind;
        // Ornstein–Uhlenbeck step: pulled back to the set point, pushed by noise.
        device.value += 0.05 * (device.set_point - device.value) + kind.noise * normal(rng);
        device.value = device.value.max(kind.min);
        device.battery -= rng.random_range(0.0..0.02);
        if device.battery < 5.0 {
            device.battery = 100.0;
        }
        let (value, status) = if rng.random_bool(ANOMALY_RATE) {
            let spike = kind.spread * rng.random_range(6.0..12.0);
            let sign = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
            ((device.value + sign * spike).max(kind.min), "anomaly")
        } else if device.value < kind.warn_low
            || device.value > kind.warn_high
            || device.battery < 15.0
        {
            (device.value, "warning")
        } else {
            (device.value, "ok")
        };
        key.push_str(&device.id);
        Reading {
            device_id: &device.id,
            site: device.site,
            sensor_type: kind.name,
            value: round(value, 2),
            unit: kind.unit,
            battery_pct: round(device.battery, 1),
            firmware: device.firmware,
            status,
        }
    }
}
