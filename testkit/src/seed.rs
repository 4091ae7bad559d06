//! The API benchmarks' database: 1,000 topics and 100,000 subscriptions (100 for each of 1,000
//! users), made through the store.

use app::domain::{TopicName, UserId};
use streamhub::store::{Actor, NewTopic, Store};

pub const TOPICS: usize = 1000;
pub const USERS: usize = 1000;
pub const SUBSCRIPTIONS_PER_USER: usize = 100;

/// Fills `store`; each user's subscriptions at once, so that the group commit takes them in
/// batches.
pub async fn seed(store: &Store) {
    let actor = Actor::system("bench");
    for i in 0..TOPICS {
        let new = NewTopic {
            name: TopicName::parse(&format!("topic_{i:04}")).unwrap(),
            created_by: UserId::parse(&format!("user_{}", i % 50), "created_by").unwrap(),
            partitions: 3,
            replication_factor: 1,
            description: "Seeded by the API load benchmark: a description of typical length."
                .into(),
            event_type: None,
            owner: Default::default(),
            access: Default::default(),
            masks: Vec::new(),
            value_schema: None,
        };
        store.create_topic(&new, &actor).await.unwrap();
    }
    for user in 0..USERS {
        let subscribes = (0..SUBSCRIPTIONS_PER_USER).map(|k| {
            let (store, actor) = (store, &actor);
            async move {
                let topic =
                    TopicName::parse(&format!("topic_{:04}", (user * 7 + k) % TOPICS)).unwrap();
                let user = UserId::parse(&format!("user_{user}"), "user_id").unwrap();
                store.subscribe(&user, &topic, actor).await.unwrap();
            }
        });
        futures::future::join_all(subscribes).await;
    }
}
