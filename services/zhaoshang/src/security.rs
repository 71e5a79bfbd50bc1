//! Turning the configuration into the HTTP security layer: the keys tokens
//! are verified with, the policy table and the write rate limit; and the
//! local HS256 secret that `up` creates and `zhaoshang token` signs with.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use zhaoshang_http::auth::{
    AuthSettings, Authenticator, Claims, Policy, Role, Security, WriteRateLimiter, mint_hs256, unix_now,
};

use crate::config::{AuthMode, Config};

/// Bytes of a secret `up` creates.
const SECRET_BYTES: usize = 32;

/// The file holding the local HS256 secret.
pub fn secret_file(config: &Config) -> PathBuf {
    config.data_dir.join("jwt-secret")
}

/// The local HS256 secret: the configured one, else the one under the data
/// directory, created (readable by its owner only) when `create` and absent.
///
/// # Errors
/// In SSO mode (no local secret exists there), or when the file cannot be
/// read or written.
pub fn local_secret(config: &Config, create: bool) -> anyhow::Result<Option<Vec<u8>>> {
    if config.auth_mode == AuthMode::Sso {
        if config.jwt_secret.is_some() {
            bail!("ZHAOSHANG_JWT_SECRET is for local mode only: in sso mode tokens come from the city's JWKS");
        }
        return Ok(None);
    }
    if let Some(secret) = &config.jwt_secret {
        return Ok(Some(secret.0.as_bytes().to_vec()));
    }
    let path = secret_file(config);
    match std::fs::read_to_string(&path) {
        Ok(text) => return Ok(Some(text.trim().as_bytes().to_vec())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound && create => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error).with_context(|| format!("failed to read {}", path.display())),
    }
    let mut bytes = [0u8; SECRET_BYTES];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| anyhow::anyhow!("the system's random source failed"))?;
    let text = hex::encode(bytes);
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("failed to create {}", config.data_dir.display()))?;
    write_private(&path, &text).with_context(|| format!("failed to write {}", path.display()))?;
    tracing::info!(file = %path.display(), "created a local token secret");
    Ok(Some(text.into_bytes()))
}

#[cfg(unix)]
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

/// The SSO's keys, from the configured file or URL.
async fn jwks(config: &Config) -> anyhow::Result<Option<jsonwebtoken::jwk::JwkSet>> {
    let text = match (&config.jwks_file, &config.jwks_url) {
        (Some(file), _) => {
            std::fs::read_to_string(file).with_context(|| format!("failed to read the JWKS {}", file.display()))?
        }
        (None, Some(url)) => reqwest::get(url)
            .await
            .and_then(reqwest::Response::error_for_status)
            .with_context(|| format!("failed to fetch the JWKS {url}"))?
            .text()
            .await
            .with_context(|| format!("failed to read the JWKS {url}"))?,
        (None, None) => return Ok(None),
    };
    Ok(Some(serde_json::from_str(&text).context("the JWKS is not a JSON Web Key Set")?))
}

/// The security layer's state for `config`.
///
/// # Errors
/// When no key is configured (SSO mode without a JWKS), a key is unusable,
/// or the local secret cannot be read or created.
pub async fn security(config: &Config) -> anyhow::Result<Arc<Security>> {
    let settings = AuthSettings {
        hs256_secret: local_secret(config, true)?,
        jwks: jwks(config).await?,
        issuer: config.jwt_issuer.clone(),
        audience: config.jwt_audience.clone(),
    };
    let authenticator = Authenticator::new(&settings).context("cannot verify tokens")?;
    Ok(Arc::new(Security {
        authenticator,
        policy: Policy::zhaoshang(),
        limiter: WriteRateLimiter::new(config.write_rate_per_second, config.write_burst),
    }))
}

/// Parses a lifetime like `8h`, `30m`, `7d` or `3600s` (or bare seconds).
///
/// # Errors
/// When it is none of these, or zero.
pub fn parse_ttl(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let number: u64 = number.parse().map_err(|_| format!("{text:?} is not a lifetime like 8h, 30m or 7d"))?;
    let seconds = match unit {
        "" | "s" => number,
        "m" => number * 60,
        "h" => number * 3600,
        "d" => number * 86_400,
        _ => return Err(format!("unknown unit {unit:?}: use s, m, h or d")),
    };
    if seconds == 0 {
        return Err("the lifetime must be longer than zero".to_owned());
    }
    Ok(std::time::Duration::from_secs(seconds))
}

/// Mints a local token for `role`.
///
/// # Errors
/// In SSO mode, or when the secret cannot be read or created.
pub fn mint_local_token(
    config: &Config,
    role: Role,
    task_forces: Vec<String>,
    ttl: std::time::Duration,
    sub: String,
    name: Option<String>,
) -> anyhow::Result<String> {
    let secret =
        local_secret(config, true)?.context("local tokens exist only in local mode (ZHAOSHANG_AUTH_MODE=local)")?;
    if role == Role::TaskForce && task_forces.is_empty() {
        bail!("a task_force token needs at least one --task-force <id>");
    }
    let now = unix_now();
    let claims = Claims {
        sub,
        name,
        role,
        task_forces,
        exp: now + ttl.as_secs(),
        iat: now,
        iss: config.jwt_issuer.clone(),
        aud: config.jwt_audience.clone(),
    };
    mint_hs256(&secret, &claims).context("failed to sign the token")
}
