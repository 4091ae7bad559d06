//! The interactive menu: who am I, then list / subscribe / unsubscribe / my subscriptions /
//! consume live / statistics / quit. Lists filter as you type; Ctrl-C while consuming returns
//! here instead of ending the program.

use super::{
    config::{ConsumerCli, Format},
    output::Printer,
    script::{my_topics, open_reader, print_topics, pump},
    ConsumerError,
};
use crate::api_client::{ApiClient, SubscribeOutcome};
use app::{domain::UserId, wire::TopicStatus};
use console::style;
use dialoguer::{theme::ColorfulTheme, Confirm, FuzzySelect, Input, Select};

const ITEMS: [&str; 7] = [
    "List topics",
    "Subscribe to a topic",
    "Unsubscribe from a topic",
    "My subscriptions",
    "Consume my topics live",
    "Statistics",
    "Quit",
];

fn terminal(e: dialoguer::Error) -> ConsumerError {
    ConsumerError::Usage(format!("terminal: {e}"))
}

/// Runs the menu until the user quits.
pub async fn run(cli: &ConsumerCli, api: &ApiClient) -> Result<(), ConsumerError> {
    let theme = ColorfulTheme::default();
    let user = match cli.user.clone() {
        Some(user) => user,
        None => Input::<String>::with_theme(&theme)
            .with_prompt("Who are you (user id)?")
            .validate_with(|s: &String| {
                UserId::parse(s, "user_id")
                    .map(|_| ())
                    .map_err(|e| e.message)
            })
            .interact_text()
            .map_err(terminal)?,
    };
    let user = UserId::parse(&user, "user_id")
        .map_err(|e| ConsumerError::Usage(e.message))?
        .to_string();
    println!(
        "{} {}",
        style("StreamHub").bold(),
        style(format!("— signed in as {user}")).dim()
    );
    loop {
        let Some(choice) = Select::with_theme(&theme)
            .with_prompt("What next?")
            .items(ITEMS)
            .default(0)
            .interact_opt()
            .map_err(terminal)?
        else {
            break;
        };
        // A failed action is reported and the menu goes on: the server may be back next time.
        let result = match choice {
            0 => list(api, &user).await,
            1 => subscribe(api, &user, &theme).await,
            2 => unsubscribe(api, &user, &theme).await,
            3 => subscriptions(api, &user).await,
            4 => consume(cli, api, &user, &theme).await,
            5 => stats(api).await,
            _ => break,
        };
        if let Err(e) = result {
            eprintln!("{} {e}", style("error:").red().bold());
        }
    }
    Ok(())
}

async fn list(api: &ApiClient, user: &str) -> Result<(), ConsumerError> {
    let topics = api.topics().await?;
    if topics.is_empty() {
        println!("No topics yet. Request one in the dashboard.");
        return Ok(());
    }
    print_topics(&topics, &my_topics(api, Some(user)).await?, false);
    println!("{}", style("* = subscribed").dim());
    Ok(())
}

async fn subscribe(
    api: &ApiClient,
    user: &str,
    theme: &ColorfulTheme,
) -> Result<(), ConsumerError> {
    let mine = my_topics(api, Some(user)).await?;
    let candidates: Vec<String> = api
        .topics()
        .await?
        .into_iter()
        .filter(|t| t.status != TopicStatus::Rejected && !mine.contains(&t.topic_name))
        .map(|t| format!("{} ({})", t.topic_name, t.status))
        .collect();
    if candidates.is_empty() {
        println!("You follow every topic there is.");
        return Ok(());
    }
    let Some(i) = FuzzySelect::with_theme(theme)
        .with_prompt("Subscribe to (type to filter)")
        .items(&candidates)
        .default(0)
        .interact_opt()
        .map_err(terminal)?
    else {
        return Ok(());
    };
    let name = candidates[i].split(' ').next().unwrap_or_default();
    match api.subscribe(user, name).await? {
        SubscribeOutcome::Added => println!("{} subscribed to {name}", style("✓").green()),
        SubscribeOutcome::AlreadySubscribed => println!("Already subscribed to {name}"),
    }
    Ok(())
}

async fn unsubscribe(
    api: &ApiClient,
    user: &str,
    theme: &ColorfulTheme,
) -> Result<(), ConsumerError> {
    let mine: Vec<String> = api
        .subscriptions(user)
        .await?
        .into_iter()
        .map(|s| s.topic_name)
        .collect();
    if mine.is_empty() {
        println!("You have no subscriptions.");
        return Ok(());
    }
    let Some(i) = FuzzySelect::with_theme(theme)
        .with_prompt("Unsubscribe from (type to filter)")
        .items(&mine)
        .default(0)
        .interact_opt()
        .map_err(terminal)?
    else {
        return Ok(());
    };
    api.unsubscribe(user, &mine[i]).await?;
    println!("{} unsubscribed from {}", style("✓").green(), mine[i]);
    Ok(())
}

async fn subscriptions(api: &ApiClient, user: &str) -> Result<(), ConsumerError> {
    let subs = api.subscriptions(user).await?;
    if subs.is_empty() {
        println!("You have no subscriptions.");
    }
    for s in subs {
        println!(
            "{:<32} {:<9} since {}",
            s.topic_name,
            s.topic_status.as_str(),
            s.subscribed_at
        );
    }
    Ok(())
}

async fn consume(
    cli: &ConsumerCli,
    api: &ApiClient,
    user: &str,
    theme: &ColorfulTheme,
) -> Result<(), ConsumerError> {
    let subs = api.subscriptions(user).await?;
    let topics: Vec<(String, i32)> = {
        let all = api.topics().await?;
        subs.iter()
            .filter(|s| s.topic_status == TopicStatus::Active)
            .filter_map(|s| all.iter().find(|t| t.topic_name == s.topic_name))
            .map(|t| (t.topic_name.clone(), t.partitions))
            .collect()
    };
    if topics.is_empty() {
        println!("None of your subscriptions is active yet.");
        if Confirm::with_theme(theme)
            .with_prompt("Subscribe to a topic now?")
            .default(true)
            .interact()
            .map_err(terminal)?
        {
            return Box::pin(subscribe(api, user, theme)).await;
        }
        return Ok(());
    }
    let names: Vec<&str> = topics.iter().map(|(t, _)| t.as_str()).collect();
    println!(
        "Consuming {} — {}",
        style(names.join(", ")).bold(),
        style("Ctrl-C returns to the menu").dim()
    );
    let mut cli = cli.clone();
    cli.user = Some(user.to_owned());
    let mut reader = open_reader(&cli, &topics, "latest", None, false, None).await?;
    let mut printer = Printer::new(Format::Pretty, true);
    let printed = pump(&mut reader, &mut printer, None, topics.len()).await?;
    println!(
        "\n{}",
        style(format!("{printed} records — back to the menu")).dim()
    );
    Ok(())
}

async fn stats(api: &ApiClient) -> Result<(), ConsumerError> {
    let s = api.stats().await?;
    println!(
        "topics {} (pending {}, approved {}, active {}, rejected {}, inactive {}), subscriptions {}",
        s.total_topics,
        s.pending_topics,
        s.approved_topics,
        s.active_topics,
        s.rejected_topics,
        s.inactive_topics,
        s.total_subscriptions
    );
    Ok(())
}
