//! User activity on a web shop: each user moves through a session — login, page views, searches,
//! clicks, adding to the cart, now and then a purchase — as a small Markov chain, keeping one
//! device and country, with a new session id after logging out.

use super::{round, weighted, Events, Now};
use app::domain::EventType;
use rand::{rngs::SmallRng, Rng};
use serde::Serialize;
use std::fmt::Write;

const USERS: usize = 300;
const PAGES: [&str; 8] = [
    "/",
    "/deals",
    "/category/shoes",
    "/category/electronics",
    "/product/p-1042",
    "/product/p-2077",
    "/cart",
    "/account",
];
const QUERIES: [&str; 6] = [
    "running shoes",
    "usb-c charger",
    "winter jacket",
    "headphones",
    "coffee grinder",
    "desk lamp",
];

#[derive(Clone, Copy, PartialEq)]
enum Action {
    Login,
    PageView,
    Search,
    Click,
    AddToCart,
    Purchase,
    Logout,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Login => "login",
            Action::PageView => "page_view",
            Action::Search => "search",
            Action::Click => "click",
            Action::AddToCart => "add_to_cart",
            Action::Purchase => "purchase",
            Action::Logout => "logout",
        }
    }
}

struct User {
    id: String,
    device: &'static str,
    country: &'static str,
    session: Option<String>,
    last: Action,
    cart_items: u32,
}

/// The user base.
pub struct Users {
    users: Vec<User>,
}

impl Users {
    pub fn new(rng: &mut SmallRng) -> Self {
        let users = (0..USERS)
            .map(|i| User {
                id: format!("user_{i}"),
                device: weighted(rng, &[("mobile", 55), ("desktop", 38), ("tablet", 7)]),
                country: weighted(
                    rng,
                    &[
                        ("US", 30),
                        ("DE", 15),
                        ("GB", 12),
                        ("FR", 10),
                        ("IN", 18),
                        ("BR", 15),
                    ],
                ),
                session: None,
                last: Action::Logout,
                cart_items: 0,
            })
            .collect();
        Self { users }
    }
}

#[derive(Serialize)]
pub struct Activity<'a> {
    user_id: &'a str,
    session_id: &'a str,
    action: &'static str,
    page: &'static str,
    search_query: Option<&'static str>,
    device: &'static str,
    country: &'static str,
    duration_ms: u32,
    cart_items: u32,
    order_value: Option<f64>,
}

impl Events for Users {
    const TYPE: EventType = EventType::UserActivity;

    fn next_event(&mut self, rng: &mut SmallRng, _now: &Now, key: &mut String) -> impl Serialize {
        let i = rng.random_range(0..self.users.len());
        let user = &mut self.users[i];
        if user.last == Action::Logout {
            // The session ended with the previous event; the next one logs in again.
            user.session = None;
        }
        let action = match (user.session.is_some(), user.last) {
            (false, _) => Action::Login,
            (true, Action::Purchase) => {
                weighted(rng, &[(Action::PageView, 3), (Action::Logout, 2)])
            }
            (true, Action::AddToCart) => weighted(
                rng,
                &[
                    (Action::Purchase, 3),
                    (Action::PageView, 4),
                    (Action::Click, 2),
                    (Action::Logout, 1),
                ],
            ),
            (true, _) => weighted(
                rng,
                &[
                    (Action::PageView, 40),
                    (Action::Search, 15),
                    (Action::Click, 25),
                    (Action::AddToCart, 10),
                    (Action::Logout, 5),
                ],
            ),
        };
        if action == Action::Login {
            let mut session = String::with_capacity(20);
            let _ = write!(
                session,
                "sess-{:012x}",
                rng.random::<u64>() & 0xffff_ffff_ffff
            );
            user.session = Some(session);
            user.cart_items = 0;
        }
        let mut order_value = None;
        match action {
            Action::AddToCart => user.cart_items += 1,
            Action::Purchase => {
                order_value = Some(round(
                    f64::from(user.cart_items.max(1)) * rng.random_range(12.0..140.0),
                    2,
                ));
                user.cart_items = 0;
            }
            _ => {}
        }
        let page = match action {
            Action::Login | Action::Logout => "/account",
            Action::Search => "/search",
            Action::AddToCart => PAGES[rng.random_range(4..6)],
            Action::Purchase => "/checkout",
            _ => PAGES[rng.random_range(0..PAGES.len())],
        };
        user.last = action;
        key.push_str(&user.id);
        let user = &self.users[i];
        let session_id = user.session.as_deref().unwrap_or("");
        Activity {
            user_id: &user.id,
            session_id,
            action: action.as_str(),
            page,
            search_query: (action == Action::Search)
                .then(|| QUERIES[rng.random_range(0..QUERIES.len())]),
            device: user.device,
            country: user.country,
            duration_ms: rng.random_range(150..12_000),
            cart_items: user.cart_items,
            order_value,
        }
    }
}
