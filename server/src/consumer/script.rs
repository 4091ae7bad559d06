//! Script mode: one subcommand, plain output on stdout, diagnostics on stderr, exit codes.

use super::{
    config::{start_position, Command, ConsumeArgs, ConsumerCli, ProduceArgs},
    output::Printer,
    reader::{Event, KafkaReader, Reader, RelayReader},
    ConsumerError,
};
use crate::{
    api_client::{ApiClient, SubscribeOutcome},
    filter::Filter,
};
use app::wire::{ProduceRequest, Topic, TopicStatus};
use std::collections::{BTreeMap, HashSet};
use tokio::io::AsyncBufReadExt;

pub async fn run(
    cli: &ConsumerCli,
    api: &ApiClient,
    command: Command,
) -> Result<(), ConsumerError> {
    match command {
        Command::Topics { active } => {
            let topics = api.topics().await?;
            let mine = my_topics(api, cli.user.as_deref()).await?;
            print_topics(&topics, &mine, active);
        }
        Command::Subscribe { topic } => {
            let user = need_user(cli)?;
            match api.subscribe(user, &topic).await? {
                SubscribeOutcome::Added => println!("subscribed {user} to {topic}"),
                SubscribeOutcome::AlreadySubscribed => {
                    println!("{user} was already subscribed to {topic}")
                }
            }
        }
        Command::Unsubscribe { topic } => {
            let user = need_user(cli)?;
            api.unsubscribe(user, &topic).await?;
            println!("unsubscribed {user} from {topic}");
        }
        Command::Subscriptions => {
            let subscriptions = match cli.user.as_deref() {
                Some(user) => api.subscriptions(user).await?,
                None => api.all_subscriptions().await?,
            };
            for s in subscriptions {
                println!(
                    "{}\t{}\t{}\t{}",
                    s.user_id, s.topic_name, s.topic_status, s.subscribed_at
                );
            }
        }
        Command::Produce(args) => produce(api, &args).await?,
        Command::Lag { watch } => lag(api, need_user(cli)?, watch).await?,
        Command::Search(args) => super::search::run(cli, &args).await?,
        Command::Login { with_token, device } => {
            super::login::login(api, with_token, device).await?
        }
        Command::Stats => {
            let stats = api.stats().await?;
            println!("total_topics\t{}", stats.total_topics);
            println!("pending_topics\t{}", stats.pending_topics);
            println!("approved_topics\t{}", stats.approved_topics);
            println!("active_topics\t{}", stats.active_topics);
            println!("total_subscriptions\t{}", stats.total_subscriptions);
        }
        Command::Consume(args) => consume(cli, api, &args).await?,
    }
    Ok(())
}

fn need_user(cli: &ConsumerCli) -> Result<&str, ConsumerError> {
    cli.user.as_deref().ok_or_else(|| {
        ConsumerError::Usage("who are you? pass --user or set STREAMHUB_USER".into())
    })
}

/// The names of `user`'s subscriptions (empty without a user).
pub async fn my_topics(
    api: &ApiClient,
    user: Option<&str>,
) -> Result<HashSet<String>, ConsumerError> {
    Ok(match user {
        Some(user) => api
            .subscriptions(user)
            .await?
            .into_iter()
            .map(|s| s.topic_name)
            .collect(),
        None => HashSet::new(),
    })
}

/// A table of topics, `*` marking the user's.
pub fn print_topics(topics: &[Topic], mine: &HashSet<String>, only_active: bool) {
    println!(
        "{:<1} {:<32} {:<9} {:>10} {:<14} {:>11}",
        "", "TOPIC", "STATUS", "PARTITIONS", "TYPE", "SUBSCRIBERS"
    );
    for t in topics
        .iter()
        .filter(|t| !only_active || t.status == TopicStatus::Active)
    {
        let event_type = t.event_type();
        println!(
            "{:<1} {:<32} {:<9} {:>10} {:<14} {:>11}",
            if mine.contains(&t.topic_name) {
                "*"
            } else {
                ""
            },
            t.topic_name,
            t.status.as_str(),
            t.partitions,
            event_type.as_str(),
            t.subscriber_count
        );
    }
}

/// Checks the topics can be read by this user and returns them with their partition counts.
pub async fn readable_topics(
    api: &ApiClient,
    user: Option<&str>,
    names: &[String],
) -> Result<Vec<(String, i32)>, ConsumerError> {
    let topics = api.topics().await?;
    let mine = my_topics(api, user).await?;
    names
        .iter()
        .map(|name| {
            let topic = topics
                .iter()
                .find(|t| &t.topic_name == name)
                .ok_or_else(|| ConsumerError::NoSuchTopic(format!("no topic {name}")))?;
            if topic.status != TopicStatus::Active {
                return Err(ConsumerError::NotStreamable(format!("topic {name} is {}, not active", topic.status)));
            }
            if let Some(user) = user {
                if !mine.contains(name) {
                    return Err(ConsumerError::NotStreamable(format!(
                        "{user} is not subscribed to {name}; run `streamhub-consumer --user {user} subscribe {name}`"
                    )));
                }
            }
            Ok((name.clone(), topic.partitions))
        })
        .collect()
}

/// Opens the reader for `topics` as the command line asks, of the records `filter` matches.
pub async fn open_reader(
    cli: &ConsumerCli,
    topics: &[(String, i32)],
    from: &str,
    group: Option<&str>,
    exit_at_end: bool,
    filter: Option<Filter>,
) -> Result<Reader, ConsumerError> {
    if cli.via_relay {
        let reader = RelayReader::open(
            &cli.api.api_url,
            cli.user.as_deref(),
            topics,
            from,
            exit_at_end,
            filter.map(|f| f.source().to_owned()),
            super::bearer(cli),
        )
        .await?;
        return Ok(Reader::Relay(Box::new(reader)));
    }
    let group = group.map(str::to_owned).unwrap_or_else(|| match &cli.user {
        Some(user) => format!("streamhub-{user}"),
        None => "streamhub-cli".to_owned(),
    });
    let schemas = crate::schema::Schemas::from_args(&cli.schemas)
        .map_err(|e| ConsumerError::Usage(e.to_string()))?;
    Ok(Reader::Kafka(KafkaReader::open(
        &cli.kafka,
        schemas,
        topics,
        from,
        &group,
        exit_at_end,
        filter,
    )?))
}

/// Prints records until `count`, the end (with `exit_at_end`), every topic ended, or Ctrl-C.
/// Returns how many were printed.
pub async fn pump(
    reader: &mut Reader,
    printer: &mut Printer,
    count: Option<u64>,
    topics: usize,
) -> Result<u64, ConsumerError> {
    let mut printed = 0;
    let mut ended = 0;
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    while count.is_none_or(|c| printed < c) {
        let event = tokio::select! {
            event = reader.next() => event?,
            _ = &mut interrupted => break,
        };
        match event {
            Some(Event::Record(record)) => {
                printer.print(&record)?;
                reader.done(&record);
                printed += 1;
            }
            Some(Event::Lagged { topic, skipped }) => {
                eprintln!("warning: {skipped} records of {topic} were skipped (reading too slowly)")
            }
            Some(Event::Ended { topic, reason }) => {
                eprintln!("{topic}: stream ended ({reason})");
                ended += 1;
                if ended >= topics {
                    break;
                }
            }
            Some(Event::AtEnd) | None => break,
        }
    }
    printer.flush()?;
    reader.close();
    Ok(printed)
}

async fn consume(
    cli: &ConsumerCli,
    api: &ApiClient,
    args: &ConsumeArgs,
) -> Result<(), ConsumerError> {
    start_position(&args.from, 1).map_err(ConsumerError::Usage)?;
    let filter = args
        .filter
        .as_deref()
        .map(Filter::compile)
        .transpose()
        .map_err(|e| ConsumerError::Usage(format!("--filter: {e}")))?;
    let topics = readable_topics(api, cli.user.as_deref(), &args.topic).await?;
    let mut reader = open_reader(
        cli,
        &topics,
        &args.from,
        args.group.as_deref(),
        args.exit_at_end,
        filter,
    )
    .await?;
    let mut printer = Printer::new(args.format, args.count.is_none() && !args.exit_at_end);
    let printed = pump(&mut reader, &mut printer, args.count, topics.len()).await?;
    eprintln!("{printed} records");
    Ok(())
}

/// Sends one record per line of stdin to `args.topic`; prints `partition<TAB>offset` for each.
/// A line that is not JSON (after its key) stops it with a usage error naming the line.
async fn produce(api: &ApiClient, args: &ProduceArgs) -> Result<(), ConsumerError> {
    let admin_token = args.admin_token.as_deref().ok_or_else(|| {
        ConsumerError::Usage("set ADMIN_TOKEN to the server's admin token".into())
    })?;
    let headers = args
        .headers
        .iter()
        .map(|h| {
            h.split_once('=')
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .ok_or_else(|| ConsumerError::Usage(format!("-H {h}: write it as name=value")))
        })
        .collect::<Result<BTreeMap<_, _>, _>>()?;
    let topic = api
        .topics()
        .await?
        .into_iter()
        .find(|t| t.topic_name == args.topic)
        .ok_or_else(|| ConsumerError::NoSuchTopic(format!("no topic {}", args.topic)))?;
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let (mut number, mut sent) = (0_u64, 0_u64);
    while let Some(line) = lines
        .next_line()
        .await
        .map_err(|e| ConsumerError::Usage(format!("reading stdin: {e}")))?
    {
        number += 1;
        if line.trim().is_empty() {
            continue;
        }
        let (key, value) = match &args.key_delimiter {
            Some(delimiter) => match line.split_once(delimiter.as_str()) {
                Some((key, value)) => (Some(key.to_owned()), value),
                None => (None, line.as_str()),
            },
            None => (None, line.as_str()),
        };
        let value = serde_json::from_str(value).map_err(|e| {
            ConsumerError::Usage(format!("line {number}: the value is not JSON ({e})"))
        })?;
        let record = ProduceRequest {
            key,
            headers: headers.clone(),
            value,
            message: args.message.clone(),
        };
        let produced = api.produce(topic.topic_id, &record, admin_token).await?;
        println!("{}\t{}", produced.partition, produced.offset);
        sent += 1;
    }
    eprintln!("{sent} records sent to {}", args.topic);
    Ok(())
}

/// Prints `user`'s lag per subscribed topic and partition (`-` where nothing is stored), once
/// or, with `watch`, every 2 s until Ctrl-C.
async fn lag(api: &ApiClient, user: &str, watch: bool) -> Result<(), ConsumerError> {
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        let lags = api.lag(user).await?;
        println!("topic\tpartition\tcommitted\tend\tlag");
        for topic in &lags {
            for p in &topic.partitions {
                let show = |v: Option<i64>| v.map_or("-".to_owned(), |v| v.to_string());
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    topic.topic,
                    p.partition,
                    show(p.committed),
                    p.end,
                    show(p.lag)
                );
            }
        }
        if !watch {
            return Ok(());
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(2)) => println!(),
            _ = &mut interrupted => return Ok(()),
        }
    }
}
