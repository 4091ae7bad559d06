//! Property tests of every generator: envelope fields, types, plausible ranges, stable keys,
//! and determinism with a seed.

use super::*;
use proptest::prelude::*;
use serde_json::Value;

fn records(event_type: EventType, seed: u64, n: usize) -> Vec<(String, Value)> {
    records_from(generator(event_type, seed, "topic"), n)
}

/// Records made at one fixed instant: what the seed alone decides.
fn records_at_noon(event_type: EventType, seed: u64, n: usize) -> Vec<(String, Value)> {
    fn noon() -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp(1_780_000_000 / 86_400 * 86_400 + 43_200, 0)
            .unwrap_or_default()
    }
    records_from(generator_with_clock(event_type, seed, "topic", noon), n)
}

fn records_from(mut generator: Box<dyn Generator>, n: usize) -> Vec<(String, Value)> {
    let mut record = Record::default();
    (0..n)
        .map(|_| {
            generator.next_into(&mut record);
            (
                record.key.clone(),
                serde_json::from_slice(&record.payload).expect("valid JSON"),
            )
        })
        .collect()
}

fn num(v: &Value, field: &str) -> f64 {
    v[field]
        .as_f64()
        .unwrap_or_else(|| panic!("{field} is a number in {v}"))
}

fn check_envelope(event_type: EventType, records: &[(String, Value)]) {
    let mut ids = std::collections::HashSet::new();
    for (key, v) in records {
        assert!(!key.is_empty());
        assert_eq!(v["event_type"], event_type.as_str());
        assert_eq!(v["schema_version"], SCHEMA_VERSION);
        let ts = v["timestamp"].as_str().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "{ts}");
        assert!(
            ids.insert(v["event_id"].as_str().unwrap().to_owned()),
            "event ids are unique"
        );
    }
}

/// The values without the time-dependent envelope fields.
fn values(records: &[(String, Value)]) -> Vec<(String, Value)> {
    records
        .iter()
        .map(|(k, v)| {
            let mut v = v.clone();
            v.as_object_mut().unwrap().remove("timestamp");
            (k.clone(), v)
        })
        .collect()
}

/// What a reader of a weather observation may rely on, on the values as reported (rounded).
fn check_observation(v: &Value) -> Result<(), TestCaseError> {
    let t = num(v, "temperature_c");
    let h = num(v, "humidity_pct");
    prop_assert!((-40.0..=50.0).contains(&t));
    prop_assert!((5.0..=100.0).contains(&h));
    prop_assert!((940.0..=1080.0).contains(&num(v, "pressure_hpa")));
    prop_assert!(num(v, "wind_direction_deg") < 360.0);
    let condition = v["condition"].as_str().unwrap();
    let precipitation = num(v, "precipitation_mm");
    match condition {
        "rain" | "storm" | "snow" => prop_assert!(precipitation > 0.0 && h >= 80.0),
        _ => prop_assert_eq!(precipitation, 0.0),
    }
    if condition == "snow" {
        prop_assert!(t < 1.0, "snow at {} °C", t);
    }
    if condition == "storm" {
        prop_assert!(num(v, "wind_speed_ms") >= 14.0);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn same_seed_same_values_other_seed_other_values(seed in any::<u64>()) {
        // At one instant: the weather follows the time of day, so two runs a moment apart
        // may differ by a rounding step (this test failed that way under load).
        for event_type in EventType::ALL {
            let a = values(&records_at_noon(event_type, seed, 50));
            let b = values(&records_at_noon(event_type, seed, 50));
            prop_assert_eq!(&a, &b);
            let c = values(&records_at_noon(event_type, seed.wrapping_add(1), 50));
            prop_assert_ne!(&a, &c);
        }
    }

    #[test]
    fn sensor_readings_are_plausible(seed in any::<u64>()) {
        let rs = records(EventType::Sensor, seed, 2000);
        check_envelope(EventType::Sensor, &rs);
        let mut anomalies = 0;
        for (key, v) in &rs {
            prop_assert_eq!(key.as_str(), v["device_id"].as_str().unwrap());
            let value = num(v, "value");
            let battery = num(v, "battery_pct");
            prop_assert!((0.0..=100.0).contains(&battery));
            let status = v["status"].as_str().unwrap();
            prop_assert!(["ok", "warning", "anomaly"].contains(&status));
            anomalies += usize::from(status == "anomaly");
            if status == "ok" {
                match v["sensor_type"].as_str().unwrap() {
                    "temperature" => prop_assert!((10.0..=32.0).contains(&value)),
                    "humidity" => prop_assert!((20.0..=75.0).contains(&value)),
                    "pressure" => prop_assert!((980.0..=1040.0).contains(&value)),
                    "vibration" => prop_assert!((0.0..=7.1).contains(&value)),
                    "co2" => prop_assert!((300.0..=1400.0).contains(&value)),
                    other => prop_assert!(false, "unknown sensor type {}", other),
                }
            }
        }
        // 0.5 % of 2000: a few, not none, not many.
        prop_assert!((1..=40).contains(&anomalies), "anomalies: {}", anomalies);
    }

    #[test]
    fn weather_is_consistent(seed in any::<u64>()) {
        let rs = records(EventType::Weather, seed, 1000);
        check_envelope(EventType::Weather, &rs);
        for (key, v) in &rs {
            prop_assert_eq!(key.as_str(), v["station_id"].as_str().unwrap());
            check_observation(v)?;
        }
    }

    /// The generator follows the local solar day, so the wall clock a test runs at matters:
    /// this one picks the instant too.
    #[test]
    fn weather_is_consistent_at_any_hour(seed in any::<u64>(), millis in 0..86_400_000_i64) {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
        let mut stations = weather::Stations::new(&mut rng);
        let now = Now::at(millis);
        let mut key = String::new();
        for _ in 0..1000 {
            key.clear();
            let observation = stations.next_event(&mut rng, &now, &mut key);
            check_observation(&serde_json::to_value(observation).unwrap())?;
        }
    }

    #[test]
    fn payments_are_consistent(seed in any::<u64>()) {
        let rs = records(EventType::Payment, seed, 2000);
        check_envelope(EventType::Payment, &rs);
        let mut declined = 0;
        for (key, v) in &rs {
            prop_assert_eq!(key.as_str(), v["customer_id"].as_str().unwrap());
            prop_assert!(num(v, "amount") > 0.0);
            let risk = num(v, "risk_score");
            prop_assert!((0.0..=1.0).contains(&risk));
            let status = v["status"].as_str().unwrap();
            prop_assert!(["approved", "declined", "pending_review"].contains(&status));
            prop_assert_eq!(status == "declined", v["decline_reason"].is_string());
            declined += usize::from(status == "declined");
            if v["suspicious"] == true {
                prop_assert!(risk >= 0.8);
                prop_assert!(status != "approved");
            }
        }
        prop_assert!((10..=400).contains(&declined), "declined: {}", declined);
    }

    #[test]
    fn logs_are_consistent(seed in any::<u64>()) {
        let rs = records(EventType::Logs, seed, 2000);
        check_envelope(EventType::Logs, &rs);
        for (key, v) in &rs {
            prop_assert_eq!(key.as_str(), v["service"].as_str().unwrap());
            let code = num(v, "status_code") as u16;
            match v["level"].as_str().unwrap() {
                "ERROR" => prop_assert!(code >= 500),
                "INFO" | "DEBUG" => prop_assert!(code < 300),
                "WARN" => prop_assert!(code < 500),
                other => prop_assert!(false, "level {}", other),
            }
            prop_assert!(num(v, "latency_ms") > 0.0);
            prop_assert_eq!(v["trace_id"].as_str().unwrap().len(), 32);
        }
    }

    #[test]
    fn user_sessions_follow_a_funnel(seed in any::<u64>()) {
        let rs = records(EventType::UserActivity, seed, 3000);
        check_envelope(EventType::UserActivity, &rs);
        let mut last: std::collections::HashMap<String, (String, String)> = Default::default();
        for (key, v) in &rs {
            let user = v["user_id"].as_str().unwrap().to_owned();
            prop_assert_eq!(key, &user);
            let action = v["action"].as_str().unwrap().to_owned();
            let session = v["session_id"].as_str().unwrap().to_owned();
            prop_assert!(session.starts_with("sess-"));
            match last.get(&user) {
                None => prop_assert_eq!(action.as_str(), "login"),
                Some((prev_action, prev_session)) => {
                    if prev_action == "logout" {
                        prop_assert_eq!(action.as_str(), "login");
                        prop_assert_ne!(&session, prev_session);
                    } else {
                        prop_assert_eq!(&session, prev_session);
                    }
                }
            }
            if action == "purchase" {
                prop_assert!(num(v, "order_value") > 0.0);
            }
            last.insert(user, (action, session));
        }
    }
}

#[test]
fn records_are_of_realistic_size() {
    for event_type in EventType::ALL {
        let mut generator = generator(event_type, 7, "t");
        let mut record = Record::default();
        generator.next_into(&mut record);
        let size = record.payload.len();
        assert!((150..=600).contains(&size), "{event_type}: {size} bytes");
        assert_eq!(generator.event_type(), event_type);
    }
}
