//! `streamhub-consumer login`: a personal access token (`oidc` mode) kept in the user's config
//! directory for the next commands, readable by its owner alone. The token comes from
//! `--with-token` (made on the dashboard's Tokens page), else from the identity provider's device
//! flow when it offers one (confirm a code in any browser), else from stdin.
//! `--token` / `STREAMHUB_TOKEN` override the kept one.

use super::ConsumerError;
use crate::api_client::ApiClient;
use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

/// Where the token is kept: `$XDG_CONFIG_HOME/streamhub/token`, else `~/.config/streamhub/token`.
pub fn token_file() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("streamhub").join("token"))
}

/// The token `login` saved, if any.
pub fn saved_token() -> Option<String> {
    let token = std::fs::read_to_string(token_file()?).ok()?;
    Some(token.trim().to_owned()).filter(|t| !t.is_empty())
}

/// Checks `token` (else one from the device flow, from a terminal or when `device`, else one
/// line of stdin) with the server and keeps it.
pub async fn login(
    api: &ApiClient,
    token: Option<String>,
    device: bool,
) -> Result<(), ConsumerError> {
    use std::io::IsTerminal;
    let device = device || std::io::stdin().is_terminal();
    let from_device = match (&token, device) {
        (None, true) => device_sign_in(api).await?,
        _ => None,
    };
    let token = match token.or(from_device) {
        Some(token) => token,
        None => {
            eprintln!(
                "Paste a personal access token (make one on the dashboard's Tokens page, /tokens):"
            );
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            line
        }
    };
    let token = token.trim().to_owned();
    if token.is_empty() {
        return Err(ConsumerError::Usage("no token given".into()));
    }
    let tokens = api
        .clone()
        .with_bearer(Some(token.clone()))
        .tokens()
        .await?;
    let who = tokens
        .first()
        .map_or_else(|| "you".to_owned(), |t| t.user_id.clone());
    let path = token_file().ok_or_else(|| {
        ConsumerError::Usage("no config directory: set HOME or XDG_CONFIG_HOME".into())
    })?;
    save(&path, &token)?;
    eprintln!(
        "Logged in as {who}: the token is kept in {}",
        path.display()
    );
    Ok(())
}

/// A token from the identity provider's device flow: the person opens the URL shown, in any
/// browser, and confirms the code; `None` when the server or its provider offers no such flow.
async fn device_sign_in(api: &ApiClient) -> Result<Option<String>, ConsumerError> {
    let started = match api.device_sign_in().await {
        Ok(started) => started,
        // `open` mode, or a provider without the device flow: a token by hand instead.
        Err(e) if e.status() == Some(reqwest::StatusCode::NOT_FOUND) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let url = started
        .verification_uri_complete
        .as_deref()
        .unwrap_or(&started.verification_uri);
    eprintln!(
        "To sign in, open {url} in a browser and confirm the code {}",
        started.user_code
    );
    let mut interval = Duration::from_secs(started.interval.max(1));
    let deadline = Instant::now() + Duration::from_secs(started.expires_in);
    while Instant::now() < deadline {
        tokio::time::sleep(interval).await;
        let status = match api.device_sign_in_status(&started.handle).await {
            Ok(status) => status,
            // The provider or the server is briefly away, or asked too often: ask again.
            Err(e) if matches!(e.status().map(|s| s.as_u16()), Some(429 | 503)) => {
                eprintln!("({e}; asking again)");
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        match (status.status.as_str(), status.token) {
            ("done", Some(token)) => return Ok(Some(token)),
            ("slow_down", _) => interval += Duration::from_secs(5),
            _ => {}
        }
    }
    Err(ConsumerError::Usage(
        "the code expired before it was confirmed: run login again".into(),
    ))
}

/// Keeps `token` at `path`, readable by its owner alone.
fn save(path: &std::path::Path, token: &str) -> std::io::Result<()> {
    crate::secrets::write_private(path, token, crate::secrets::Existing::Replace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_saved_token_is_its_owners_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("streamhub").join("token");
        save(&path, "shp_abc").unwrap();
        save(&path, "shp_def").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "shp_def\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
