//! Card and wallet payments: customers with a home country and currency shop at merchants whose
//! categories set typical amounts (log-normal); large amounts are declined more often; about one
//! in a hundred is suspicious — far larger than usual, from another country, with a high risk
//! score — and mostly declined or held for review.

use super::{normal, round, weighted, Events, Now};
use app::domain::EventType;
use rand::{rngs::SmallRng, Rng};
use serde::Serialize;
use std::fmt::Write;

/// `(merchant, category, median amount)`
const MERCHANTS: [(&str, &str, f64); 12] = [
    ("FreshMart", "groceries", 38.0),
    ("QuickFuel", "fuel", 55.0),
    ("CityCafe", "restaurants", 14.0),
    ("Bistro Nova", "restaurants", 46.0),
    ("TechHub", "electronics", 240.0),
    ("StreamFlix", "subscriptions", 12.99),
    ("SkyAir", "travel", 380.0),
    ("StayWell Hotels", "travel", 160.0),
    ("Urban Threads", "apparel", 65.0),
    ("HomeCraft", "home", 90.0),
    ("PharmaPlus", "health", 22.0),
    ("RideGo", "transport", 18.0),
];

/// `(country, currency)`
const COUNTRIES: [(&str, &str); 6] = [
    ("DE", "EUR"),
    ("FR", "EUR"),
    ("GB", "GBP"),
    ("US", "USD"),
    ("JP", "JPY"),
    ("BR", "BRL"),
];

const CUSTOMERS: usize = 400;
const SUSPICIOUS_RATE: f64 = 0.01;

struct Customer {
    id: String,
    country: usize,
    method: &'static str,
}

/// The customer base.
pub struct Payments {
    customers: Vec<Customer>,
    next_transaction: u64,
    transaction_id: String,
}

impl Payments {
    pub fn new(rng: &mut SmallRng) -> Self {
        let customers = (0..CUSTOMERS)
            .map(|i| Customer {
                id: format!("cust-{i:05}"),
                country: weighted(rng, &[(0, 30), (1, 15), (2, 15), (3, 25), (4, 8), (5, 7)]),
                method: weighted(rng, &[("card", 70), ("wallet", 22), ("bank_transfer", 8)]),
            })
            .collect();
        Self {
            customers,
            next_transaction: rng.random_range(1_000_000..9_000_000),
            transaction_id: String::new(),
        }
    }
}

#[derive(Serialize)]
pub struct Payment<'a> {
    transaction_id: &'a str,
    customer_id: &'a str,
    merchant: &'static str,
    category: &'static str,
    amount: f64,
    currency: &'static str,
    method: &'static str,
    country: &'static str,
    status: &'static str,
    decline_reason: Option<&'static str>,
    risk_score: f64,
    suspicious: bool,
}

impl Events for Payments {
    const TYPE: EventType = EventType::Payment;

    fn next_event(&mut self, rng: &mut SmallRng, _now: &Now, key: &mut String) -> impl Serialize {
        let customer = &self.customers[rng.random_range(0..self.customers.len())];
        let (merchant, category, median) = MERCHANTS[rng.random_range(0..MERCHANTS.len())];
        let suspicious = rng.random_bool(SUSPICIOUS_RATE);
        let mut amount = median * (0.55 * normal(rng)).exp();
        let mut country = customer.country;
        let mut risk: f64 = (0.05 + 0.08 * normal(rng).abs()).min(0.6);
        if suspicious {
            amount *= rng.random_range(8.0..30.0);
            country = (country + rng.random_range(1..COUNTRIES.len())) % COUNTRIES.len();
            risk = rng.random_range(0.8..0.99);
        }
        let (_, currency) = COUNTRIES[customer.country];
        if currency == "JPY" {
            amount = (amount * 150.0).round();
        }
        let decline_probability = if suspicious {
            0.7
        } else {
            0.02 + if amount > 1000.0 { 0.08 } else { 0.0 } + risk * 0.05
        };
        let (status, reason) = if rng.random_bool(decline_probability) {
            let reason = if suspicious {
                "suspected_fraud"
            } else {
                weighted(
                    rng,
                    &[
                        ("insufficient_funds", 5),
                        ("do_not_honor", 2),
                        ("card_expired", 1),
                        ("incorrect_cvc", 1),
                    ],
                )
            };
            ("declined", Some(reason))
        } else if suspicious || rng.random_bool(0.01) {
            ("pending_review", None)
        } else {
            ("approved", None)
        };
        self.next_transaction += 1;
        self.transaction_id.clear();
        let _ = write!(self.transaction_id, "txn-{}", self.next_transaction);
        key.push_str(&customer.id);
        Payment {
            transaction_id: &self.transaction_id,
            customer_id: &customer.id,
            merchant,
            category,
            amount: round(amount, 2),
            currency,
            method: customer.method,
            country: COUNTRIES[country].0,
            status,
            decline_reason: reason,
            risk_score: round(risk, 3),
            suspicious,
        }
    }
}
