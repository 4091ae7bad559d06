//! [`run`]: builds the state (store, Kafka admin, secrets, health monitor), mounts the REST API,
//! the dashboard (SSR with its in-process API calls, and static files), and serves on an
//! already-bound listener until `shutdown` resolves. Tests bind `127.0.0.1:0` and call it
//! in-process; the binary passes Ctrl-C/SIGTERM.

use crate::oidc::{AuthMode, Oidc};
use crate::{
    config::ServerConfig,
    health::{HealthMonitor, ThisInstance},
    http::{
        host_check::AllowedHosts,
        router,
        ssr_backend::leptos_options,
        state::{AppState, Limits},
    },
    kafka::{KafkaAdmin, KafkaError, RecordSender},
    lifecycle::Lifecycle,
    open_files::{Budget, Wanted},
    rate_limit::RateLimit,
    rates::Rates,
    relay::{Relay, RelayLimits},
    secrets::{self, SecretError, SecretSource, ServerSecrets},
    sessions::Sessions,
    store::{Database, Store, StoreError},
};
use axum::Router;
use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};
use tokio::net::TcpListener;

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot open the metadata store: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Kafka(#[from] KafkaError),
    #[error("server I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("identity provider settings: {0}")]
    Auth(String),
    #[error("--database-url: {0}")]
    DatabaseUrl(String),
    #[error("webhook settings: {0}")]
    Webhooks(String),
    #[error(transparent)]
    Schemas(#[from] crate::schema::SchemaSetupError),
    #[error(
        "open mode on {0}: anyone who reaches this address may stream every active topic and \
         act as anyone; listen on loopback, sign people in (STREAMHUB_AUTH=oidc), or accept it \
         with STREAMHUB_OPEN_ON_NETWORK=true"
    )]
    OpenOnNetwork(SocketAddr),
}

/// Everything [`run`] builds before serving, exposed so that tests can reach the same handles.
pub struct Built {
    /// The handles every request shares (tests keep the relay and the store from it).
    pub state: AppState,
    /// The whole HTTP surface over that state.
    pub router: Router,
    /// How the open files are shared out (connections served at once, stream sockets).
    pub open_files: Budget,
}

/// Where the generated session key is kept in the database.
const SESSION_KEY_STATE: &str = "session_key";
/// The shared state holding the key masked fields are hashed with.
const MASK_KEY_STATE: &str = "mask_key";

/// Opens the store, loads or generates the secrets, and assembles the router.
pub async fn build(config: &ServerConfig, addr: SocketAddr) -> Result<Built, ServerError> {
    if config.auth.mode == AuthMode::Open && !addr.ip().is_loopback() {
        if !config.auth.open_on_network {
            return Err(ServerError::OpenOnNetwork(addr));
        }
        tracing::warn!(%addr, "open mode on a network address (STREAMHUB_OPEN_ON_NETWORK): anyone who reaches it may stream every active topic and act as anyone");
    }
    crate::secrets::private_dir(&config.data_dir)?;
    let database = Database::from_url(config.database_url.as_deref(), &config.data_dir)
        .map_err(ServerError::DatabaseUrl)?;
    tracing::info!(%database, "opening the metadata store");
    let store = Store::open(&database).await?;
    // The database's files as opened or created just now.
    crate::secrets::private_dir(&config.data_dir)?;
    let secrets = ServerSecrets {
        admin_token: load_secret(
            "admin token",
            config.admin_token.as_deref(),
            &config.data_dir.join(secrets::ADMIN_TOKEN_FILE),
        )?,
        producer_secret: load_secret(
            "producer secret",
            config.producer_secret.as_deref(),
            &config.data_dir.join(secrets::PRODUCER_SECRET_FILE),
        )?,
    };
    // Configured, or generated once and kept in the database, which every instance shares.
    let session_key = match config.session_secret.as_deref() {
        Some(configured) => secrets::Secret::new(configured),
        None => secrets::Secret::new(
            store
                .first_state(SESSION_KEY_STATE, secrets::Secret::generate()?.expose())
                .await?,
        ),
    };
    let sessions = Sessions::new(
        &session_key,
        &secrets.admin_token,
        Duration::from_secs(config.session_hours * 3600),
        config.cookie_secure || config.serves_https(),
    );
    let now = crate::sessions::unix_now();
    sessions.restore(store.revoked_sessions(now).await?, now);
    let open_files = Budget::for_this_process(Wanted {
        connections: config
            .max_connections
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        sockets: config.relay.ws_max_connections,
        replays: config.relay.max_concurrent_replays.into(),
    });
    let relay_limits = RelayLimits {
        max_connections: open_files.sockets,
        ..config.relay.limits()
    };
    let kafka = KafkaAdmin::new(&config.kafka)?;
    let this = ThisInstance::new(config.instance_name.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        format!("{}:{}", host.trim(), addr.port())
    }));
    tracing::info!(instance = %this.name, id = %this.id, "this instance");
    let health = HealthMonitor::new(
        kafka.clone(),
        store.clone(),
        this,
        Duration::from_millis(config.health_interval_ms),
    );
    let oidc = match config.auth.mode {
        AuthMode::Open => None,
        AuthMode::Oidc => {
            let oidc = Oidc::new(&config.auth).map_err(ServerError::Auth)?;
            tracing::info!(provider = %oidc.provider_name, "people sign in through an OpenID Connect provider");
            Some(Arc::new(oidc))
        }
    };
    // Generated once and kept in the database: every instance hashes masked fields alike.
    let mask_key = crate::access::masking::MaskKey::new(
        store
            .first_state(MASK_KEY_STATE, secrets::Secret::generate()?.expose())
            .await?
            .as_bytes(),
    );
    let schemas = crate::schema::Schemas::from_args(&config.schemas)?;
    let relay = Relay::new(config.kafka.clone(), relay_limits, mask_key, schemas);
    let lifecycle = Lifecycle::new(
        store.clone(),
        kafka.clone(),
        relay.clone(),
        health.clone(),
        config.auth.four_eyes,
    );
    let webhooks =
        crate::webhooks::Webhooks::start(&config.webhooks).map_err(ServerError::Webhooks)?;
    let state = AppState {
        webhooks,
        leptos_options: leptos_options(&config.site_dir, addr),
        store,
        records: RecordSender::new(&config.kafka)?,
        kafka,
        health,
        secrets: Arc::new(secrets),
        limits: Limits {
            max_partitions: config.max_partitions,
            writes: Arc::new(RateLimit::new(config.write_rate, config.write_burst)),
            sign_ins: Arc::new(RateLimit::new(
                config.sign_ins_per_minute / 60.0,
                config.sign_in_burst,
            )),
            failed_secrets: Arc::new(RateLimit::new(
                config.failed_secrets_per_minute / 60.0,
                config.failed_secrets_burst,
            )),
            body_timeout: Duration::from_millis(config.header_timeout_ms),
        },
        allowed_hosts: Arc::new(AllowedHosts::new(&config.allowed_hosts, addr)),
        metrics: Arc::default(),
        read_cache: Arc::default(),
        relay,
        lifecycle,
        sessions: Arc::new(sessions),
        rates: Rates::default(),
        auth: config.auth.mode,
        oidc,
    };
    crate::change_effects::spawn(&state.store, state.relay.clone(), state.sessions.clone());
    let router = router(state.clone());
    Ok(Built {
        state,
        router,
        open_files,
    })
}

fn load_secret(
    what: &str,
    configured: Option<&str>,
    path: &std::path::Path,
) -> Result<secrets::Secret, SecretError> {
    let (secret, source) = secrets::load_or_generate(configured, path)?;
    match source {
        SecretSource::Configured => tracing::info!("{what}: from configuration"),
        SecretSource::File(path) => {
            tracing::info!(path = %path.display(), "{what}: read from file")
        }
        SecretSource::Generated(path) => {
            tracing::warn!(path = %path.display(), "{what}: none configured, generated one (mode 0600)")
        }
    }
    Ok(secret)
}

/// Builds the server ([`build`]) and serves it until `shutdown` resolves ([`serve`]).
pub async fn run(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let addr = listener.local_addr()?;
    let built = build(&config, addr).await?;
    serve(listener, &config, built, shutdown).await
}

/// Serves what [`build`] made until `shutdown` resolves, then stops accepting, lets requests in
/// flight finish, and closes the store. Separate from [`run`] so that tests keep the handles
/// of what they serve (the relay, the store).
pub async fn serve(
    listener: TcpListener,
    config: &ServerConfig,
    built: Built,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let addr = listener.local_addr()?;
    let Built {
        state,
        router,
        open_files,
    } = built;
    let monitor = tokio::spawn(
        state
            .health
            .clone()
            .run(Duration::from_millis(config.health_interval_ms)),
    );
    let sampler = tokio::spawn(state.rates.clone().run(
        state.kafka.clone(),
        state.store.clone(),
        Duration::from_secs(config.rates_interval_secs),
    ));
    let summary = tokio::spawn(crate::summary::run(
        state.metrics.clone(),
        state.relay.clone(),
        crate::summary::SUMMARY_EVERY,
    ));
    tracing::info!(%addr, bootstrap = %config.kafka.bootstrap_servers, data_dir = %config.data_dir.display(), "StreamHub server listening");
    if !config.trusted_proxies.is_empty() {
        let proxies: Vec<String> = config
            .trusted_proxies
            .iter()
            .map(ToString::to_string)
            .collect();
        tracing::info!(proxies = %proxies.join(","), "X-Forwarded-For believed from these proxies only (STREAMHUB_TRUSTED_PROXIES)");
    }
    match state.allowed_hosts.names() {
        Some(names) => tracing::info!(hosts = %names.join(","), "answering requests for these host names only (STREAMHUB_ALLOWED_HOSTS)"),
        None => tracing::warn!("answering requests for any host name: set STREAMHUB_ALLOWED_HOSTS to the names this server is reached by (protects against DNS rebinding)"),
    }
    crate::listener::serve(
        listener,
        router,
        crate::listener::ConnectionLimits {
            header_timeout: Duration::from_millis(config.header_timeout_ms),
            max_connections: open_files.connections,
            max_per_addr: usize::try_from(config.max_connections_per_addr).unwrap_or(usize::MAX),
            trusted_proxies: crate::forwarded::TrustedProxies::new(config.trusted_proxies.clone()),
        },
        {
            let relay = state.relay.clone();
            async move {
                shutdown.await;
                // Upgraded sockets are not connections hyper waits for: close them ourselves.
                relay.shutdown();
            }
        },
    )
    .await;
    monitor.abort();
    sampler.abort();
    summary.abort();
    state.health.stopping().await;
    state.store.close().await;
    tracing::info!("StreamHub server stopped");
    Ok(())
}
