//! Weather observations from stations in real cities: temperature follows the local solar day
//! around each city's climate, pressure wanders, humidity moves against temperature, and the
//! reported condition, wind and precipitation follow from them (rain needs humid air, snow needs
//! frost, storms come with low pressure and strong wind).

use super::{normal, round, weighted, Events, Now};
use app::domain::EventType;
use rand::{rngs::SmallRng, Rng};
use serde::Serialize;

/// `(station id, city, country, latitude, longitude, mean temperature °C, humidity bias)`
const CITIES: [(&str, &str, &str, f64, f64, f64, f64); 12] = [
    ("ws-ber-01", "Berlin", "DE", 52.52, 13.40, 10.0, 0.0),
    ("ws-lon-01", "London", "GB", 51.51, -0.13, 11.5, 8.0),
    ("ws-mad-01", "Madrid", "ES", 40.42, -3.70, 15.5, -15.0),
    ("ws-osl-01", "Oslo", "NO", 59.91, 10.75, 6.0, 5.0),
    ("ws-nyc-01", "New York", "US", 40.71, -74.01, 13.0, 0.0),
    (
        "ws-sfo-01",
        "San Francisco",
        "US",
        37.77,
        -122.42,
        14.5,
        10.0,
    ),
    ("ws-tyo-01", "Tokyo", "JP", 35.68, 139.69, 16.0, 5.0),
    ("ws-sin-01", "Singapore", "SG", 1.35, 103.82, 27.5, 25.0),
    ("ws-syd-01", "Sydney", "AU", -33.87, 151.21, 18.0, 0.0),
    ("ws-dxb-01", "Dubai", "AE", 25.20, 55.27, 28.0, -20.0),
    ("ws-mow-01", "Moscow", "RU", 55.76, 37.62, 5.0, 0.0),
    (
        "ws-rio-01",
        "Rio de Janeiro",
        "BR",
        -22.91,
        -43.17,
        24.0,
        12.0,
    ),
];

struct Station {
    index: usize,
    pressure: f64,
    humidity_noise: f64,
    temperature_noise: f64,
}

/// The station network.
pub struct Stations {
    stations: Vec<Station>,
}

impl Stations {
    pub fn new(rng: &mut SmallRng) -> Self {
        let stations = (0..CITIES.len())
            .map(|index| Station {
                index,
                pressure: 1013.0 + normal(rng) * 6.0,
                humidity_noise: 0.0,
                temperature_noise: 0.0,
            })
            .collect();
        Self { stations }
    }
}

#[derive(Serialize)]
pub struct Observation {
    station_id: &'static str,
    city: &'static str,
    country: &'static str,
    latitude: f64,
    longitude: f64,
    temperature_c: f64,
    humidity_pct: f64,
    pressure_hpa: f64,
    wind_speed_ms: f64,
    wind_direction_deg: u16,
    condition: &'static str,
    precipitation_mm: f64,
}

impl Events for Stations {
    const TYPE: EventType = EventType::Weather;

    fn next_event(&mut self, rng: &mut SmallRng, now: &Now, key: &mut String) -> impl Serialize {
        let i = rng.random_range(0..self.stations.len());
        let station = &mut self.stations[i];
        let (id, city, country, lat, lon, mean_temp, humidity_bias) = CITIES[station.index];
        // Local solar time: warmest mid-afternoon, coolest before dawn.
        let local_hour = (now.utc_hours() + lon / 15.0).rem_euclid(24.0);
        let daily = 5.0 * ((local_hour - 9.0) / 24.0 * std::f64::consts::TAU).sin();
        station.temperature_noise = 0.95 * station.temperature_noise + 0.3 * normal(rng);
        // Decide on the values as reported, so a reading shown as 1.0 °C is never "snow".
        let temperature = round(mean_temp + daily + station.temperature_noise, 1);
        station.pressure += 0.02 * (1013.0 - station.pressure) + 0.4 * normal(rng);
        station.humidity_noise = 0.9 * station.humidity_noise + 2.0 * normal(rng);
        let humidity = round(
            (65.0 + humidity_bias - 1.5 * daily - 0.8 * (station.pressure - 1013.0)
                + station.humidity_noise)
                .clamp(5.0, 100.0),
            0,
        );
        let low_pressure = station.pressure < 1000.0;
        let condition = if humidity > 88.0 && low_pressure {
            "storm"
        } else if humidity > 80.0 && temperature < 1.0 {
            "snow"
        } else if humidity > 80.0 {
            "rain"
        } else if humidity > 92.0 || (humidity > 75.0 && local_hour < 8.0) {
            "fog"
        } else if humidity > 62.0 {
            weighted(rng, &[("cloudy", 3), ("partly_cloudy", 2)])
        } else {
            "clear"
        };
        let (wind, precipitation) = match condition {
            "storm" => (rng.random_range(14.0..28.0), rng.random_range(4.0..25.0)),
            "rain" => (rng.random_range(2.0..9.0), rng.random_range(0.2..6.0)),
            "snow" => (rng.random_range(1.0..7.0), rng.random_range(0.1..3.0)),
            "fog" => (rng.random_range(0.0..2.0), 0.0),
            _ => (rng.random_range(0.5..7.0), 0.0),
        };
        key.push_str(id);
        Observation {
            station_id: id,
            city,
            country,
            latitude: lat,
            longitude: lon,
            temperature_c: temperature,
            humidity_pct: humidity,
            pressure_hpa: round(station.pressure, 1),
            wind_speed_ms: round(wind, 1),
            wind_direction_deg: rng.random_range(0..360),
            condition,
            precipitation_mm: round(precipitation, 1),
        }
    }
}
