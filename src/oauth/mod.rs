//! OAuth 2.1 sign-in for the MCP server: discovery, client registration, the browser and its
//! callback, the token exchange, refresh and step-up, and the tokens on disk. One sign-in runs at
//! a time in a process (`flow`) and across processes (the store's lock file), so several
//! instances started together open one browser tab and never spend a refresh token twice.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

use crate::cli::{Config, Grant};
use crate::http::{Http, Reply};
use crate::secret::Secret;
use crate::url::{self, Url};
use callback::Callback;
pub use challenge::Challenge;
use discovery::{ResourceMetadata, ServerMetadata};
use store::{Client, Store, Tokens};

pub mod callback;
pub mod challenge;
pub mod discovery;
pub mod jwt;
pub mod pkce;
pub mod store;

/// Refresh this long before the access token expires.
const REFRESH_MARGIN_SECS: u64 = 60;
/// A token the server refuses within this time of being issued is not refreshed but replaced.
const FRESH: Duration = Duration::from_secs(30);
/// The grant type of the device flow's token requests (RFC 8628 section 3.4).
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// The device flow polls at least this often, whatever `interval` or `slow_down` ask: a longer
/// wait makes a finished sign-in look hung, and a hostile value would stop polling for good.
const MAX_POLL_INTERVAL: Duration = Duration::from_secs(60);
/// The longest device code lifetime believed. Real codes live 5 to 30 minutes (RFC 8628's
/// example says 1800 s), so a day cuts only nonsense; --auth-timeout ends the wait first anyway.
const MAX_DEVICE_CODE_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// What sign-in needs from the command line. No `Debug`: the static client info holds a secret.
#[derive(Clone)]
pub struct Settings {
    pub server_url: String,
    pub host: String,
    pub callback_port: u16,
    pub auth_timeout: Duration,
    pub static_client_info: Option<Value>,
    pub static_client_metadata: Option<Value>,
    /// `Some("")` leaves the resource parameter out.
    pub resource: Option<String>,
    pub client_metadata_url: Option<String>,
    /// `--callback-path`.
    pub callback_path: String,
    /// `--authorize-param`: added to the authorization URL only.
    pub authorize_params: Vec<(String, String)>,
    /// `--auth-success-url`.
    pub auth_success_url: Option<String>,
    pub browser: Option<String>,
    pub config_dir: Option<PathBuf>,
    /// `--use-id-token`: the bearer is the ID token, and its expiry the one that counts.
    pub use_id_token: bool,
    pub grant: Grant,
    /// `--token-endpoint`: skip discovery, use this token endpoint.
    pub token_endpoint: Option<String>,
}

/// What discovery found, kept for refreshes.
#[derive(Debug, Clone)]
struct Found {
    prm: Option<ResourceMetadata>,
    asm: ServerMetadata,
}

#[derive(Default)]
struct Current {
    tokens: Option<Tokens>,
    issued: Option<Instant>,
    /// No renewal ahead of expiry before this (see `bearer`).
    hold: Option<Instant>,
    found: Option<Found>,
}

pub struct Auth {
    s: Settings,
    http: Http,
    server: Url,
    store: Option<Store>,
    current: Mutex<Current>,
    flow: Mutex<()>,
    stop: Arc<AtomicBool>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Auth {
    /// Sign-in for the configured server, or `None` when the user gave an Authorization header
    /// (then no OAuth runs and nothing is stored).
    pub fn for_config(cfg: &Config, http: Http, stop: Arc<AtomicBool>) -> Option<Auth> {
        if cfg.has_authorization_header() {
            return None;
        }
        let settings = Settings {
            server_url: cfg.url.clone(),
            host: cfg.host.clone(),
            callback_port: cfg.callback_port,
            auth_timeout: cfg.auth_timeout,
            static_client_info: cfg.static_client_info.as_ref().map(|s| s.value().clone()),
            static_client_metadata: cfg.static_client_metadata.clone(),
            resource: cfg.resource.clone(),
            client_metadata_url: cfg.client_metadata_url.clone(),
            callback_path: cfg.callback_path.clone(),
            authorize_params: cfg.authorize_params.clone(),
            auth_success_url: cfg.auth_success_url.clone(),
            browser: std::env::var("BROWSER").ok(),
            config_dir: cfg.config_dir.clone(),
            use_id_token: cfg.use_id_token,
            grant: cfg.grant,
            token_endpoint: cfg.token_endpoint.clone(),
        };
        match Auth::new(settings, http, stop) {
            Ok(a) => Some(a),
            Err(e) => {
                log::warn!("sign-in is unavailable: {e}");
                None
            }
        }
    }

    pub fn new(s: Settings, http: Http, stop: Arc<AtomicBool>) -> Result<Auth, String> {
        let server = Url::parse(&s.server_url)?;
        let store = s.config_dir.as_ref().map(|d| Store::new(d, &s.server_url));
        let auth = Auth {
            s,
            http,
            server,
            store,
            current: Mutex::new(Current::default()),
            flow: Mutex::new(()),
            stop,
        };
        let tokens = auth.load_tokens();
        if tokens.is_some() {
            log::debug!("using stored tokens");
        }
        auth.http
            .set_bearer(tokens.as_ref().map(|t| auth.sent(t).clone()));
        lock(&auth.current).tokens = tokens;
        Ok(auth)
    }

    /// The token sent to the server: the ID token with `--use-id-token`, else the access token.
    /// (Tokens without an ID token never become current under that flag: see `load_tokens` and
    /// `tokens_from`.)
    fn sent<'a>(&self, t: &'a Tokens) -> &'a Secret {
        match (&t.id_token, self.s.use_id_token) {
            (Some(id), true) => id,
            _ => &t.access_token,
        }
    }

    /// Whether the token sent expires within `margin` seconds.
    fn expiring(&self, t: &Tokens, margin: u64) -> bool {
        if self.s.use_id_token {
            t.id_token_expires_within(margin)
        } else {
            t.expires_within(margin)
        }
    }

    /// The token to send, refreshed first when it is about to expire.
    pub fn bearer(&self) -> Option<Secret> {
        let (token, due) = {
            let c = lock(&self.current);
            let t = c.tokens.as_ref()?;
            // A token obtained here is not renewed ahead of expiry before half its lifetime
            // has passed: one that lives less than the margin, or whose exp reads early on
            // this machine's clock, would otherwise be renewed on every request.
            let held = c.hold.is_some_and(|h| Instant::now() < h);
            (
                self.sent(t).clone(),
                !held
                    && self.expiring(t, REFRESH_MARGIN_SECS)
                    && (t.refresh_token.is_some() || self.s.grant == Grant::ClientCredentials),
            )
        };
        if due {
            let _one = lock(&self.flow);
            if lock(&self.current).tokens.as_ref().map(|t| self.sent(t)) == Some(&token) {
                let renewed = self.with_file_lock(|| {
                    // Another mcp-remote sharing the store may have renewed already, and with
                    // a rotating refresh token the one held here is then spent.
                    if let Some(t) = self.load_tokens() {
                        if *self.sent(&t) != token && !self.expiring(&t, REFRESH_MARGIN_SECS) {
                            log::info!("using tokens another mcp-remote just obtained");
                            self.adopt(t, false);
                            return Ok(false);
                        }
                    }
                    self.renew_now(&token).map(|()| true)
                });
                match renewed {
                    Ok(true) => log::info!(
                        "{} refreshed before it expired",
                        if self.s.use_id_token {
                            "ID token"
                        } else {
                            "access token"
                        }
                    ),
                    Ok(false) => {}
                    Err(e) => log::warn!("could not refresh the access token ahead of expiry: {e}"),
                }
            }
        }
        lock(&self.current)
            .tokens
            .as_ref()
            .map(|t| self.sent(t).clone())
    }

    /// The server answered 401 to a request that carried `used`: get a token it accepts.
    /// `retrying` says the request was already sent again after an earlier sign-in or refresh:
    /// a token refused right after it was issued is not refreshed but replaced by a sign-in.
    pub fn unauthorized(
        &self,
        used: Option<&Secret>,
        ch: Option<&Challenge>,
        version: Option<&str>,
        retrying: bool,
    ) -> Result<(), String> {
        let _one = lock(&self.flow);
        if self.replaced_since(used) {
            return Ok(());
        }
        self.with_file_lock(|| {
            if let Some(t) = self.load_tokens() {
                if Some(self.sent(&t)) != used && !self.expiring(&t, 0) {
                    log::info!("using tokens another mcp-remote just obtained");
                    self.adopt(t, false);
                    return Ok(());
                }
                // Another mcp-remote refreshed but kept sending the same ID token: its refresh
                // token is the live one, the one held here may be spent.
                let rotated = lock(&self.current)
                    .tokens
                    .as_ref()
                    .is_some_and(|c| c.refresh_token != t.refresh_token);
                if rotated && t.refresh_token.is_some() {
                    self.adopt(t, false);
                }
            }
            let fresh = retrying && {
                let c = lock(&self.current);
                c.tokens.as_ref().map(|t| self.sent(t)) == used
                    && c.issued.is_some_and(|i| i.elapsed() < FRESH)
            };
            if fresh {
                log::warn!("the server refused a token issued moments ago; signing in again");
                self.forget_tokens();
            } else if lock(&self.current)
                .tokens
                .as_ref()
                .is_some_and(|t| t.refresh_token.is_some())
            {
                match self.refresh_now(used, true) {
                    Ok(()) => return Ok(()),
                    Err(e) => {
                        log::info!("refresh failed ({e}); signing in again");
                        self.forget_tokens();
                    }
                }
            }
            self.sign_in(
                ch.and_then(|c| c.param("scope")),
                ch.and_then(|c| c.param("resource_metadata")),
                version,
            )
        })
    }

    /// The server answered 403 `insufficient_scope`: sign in again for the union of the scopes
    /// held and those challenged.
    pub fn step_up(
        &self,
        used: Option<&Secret>,
        ch: &Challenge,
        version: Option<&str>,
    ) -> Result<(), String> {
        let _one = lock(&self.flow);
        if self.replaced_since(used) {
            return Ok(());
        }
        let held = lock(&self.current)
            .tokens
            .as_ref()
            .and_then(|t| t.scope.clone());
        let scope = discovery::union_scopes(held.as_deref(), ch.param("scope"));
        log::info!(
            "the server needs more permissions ({}); signing in again",
            ch.param("scope").unwrap_or("unspecified scope")
        );
        self.with_file_lock(|| {
            self.sign_in(scope.as_deref(), ch.param("resource_metadata"), version)
        })
    }

    /// `--login`: sign in now unless stored tokens are still good.
    pub fn login(&self, version: Option<&str>) -> Result<(), String> {
        let _one = lock(&self.flow);
        self.with_file_lock(|| {
            if let Some(t) = self.load_tokens() {
                if !self.expiring(&t, REFRESH_MARGIN_SECS) {
                    self.adopt(t, false);
                    return Ok(());
                }
                if t.refresh_token.is_some() {
                    self.adopt(t.clone(), false);
                    // A refresh that kept an ID token about to expire (no new one came) is no
                    // sign-in to report: the next run would need the browser at once.
                    if self.refresh_now(Some(self.sent(&t)), false).is_ok()
                        && lock(&self.current)
                            .tokens
                            .as_ref()
                            .is_some_and(|c| !self.expiring(c, REFRESH_MARGIN_SECS))
                    {
                        return Ok(());
                    }
                }
            }
            self.sign_in(None, None, version)
        })
    }

    /// Replaces tokens about to expire: with the refresh token, else (client credentials, which
    /// needs no user) with a new grant.
    fn renew_now(&self, used: &Secret) -> Result<(), String> {
        let refreshable = lock(&self.current)
            .tokens
            .as_ref()
            .is_some_and(|t| t.refresh_token.is_some());
        if refreshable || self.s.grant != Grant::ClientCredentials {
            return self.refresh_now(Some(used), false);
        }
        // A new grant for what the current one is for: its scope (which a challenge may have
        // set) and the authorization server found then (perhaps through a challenge's
        // resource_metadata), which a discovery without the challenge might not find again.
        let (found, mut scope) = {
            let c = lock(&self.current);
            (
                c.found.clone(),
                c.tokens.as_ref().and_then(|t| t.scope.clone()),
            )
        };
        if self.s.use_id_token {
            // The scope granted may not list openid; the ID token still needs it asked for.
            scope = discovery::union_scopes(scope.as_deref(), Some("openid"));
        }
        let found = match found {
            Some(f) => f,
            // Stored tokens: nothing discovered yet in this process.
            None => {
                let f = self.discover(None, None)?;
                lock(&self.current).found = Some(f.clone());
                f
            }
        };
        self.client_credentials(&found, scope.as_deref())
    }

    /// `--logout`: removes this server's stored state. Returns the directory if there was one.
    pub fn logout(&self) -> Result<Option<PathBuf>, String> {
        let Some(store) = &self.store else {
            return Ok(None);
        };
        Ok(store.remove_all()?.then(|| store.dir().to_path_buf()))
    }

    /// `--auth-status`: what is stored, without any secret.
    pub fn status(&self) -> String {
        let Some(store) = &self.store else {
            return "no storage directory (set --config-dir)".into();
        };
        let mut out = format!("storage: {}\n", store.dir().display());
        match store.load("client.json") {
            Ok(Some(v)) => match Client::from_json(&v) {
                Some(c) => out.push_str(&format!(
                    "client: {} at {}{}\n",
                    c.client_id,
                    c.issuer,
                    if c.client_secret.is_some() {
                        " (with a secret)"
                    } else {
                        ""
                    }
                )),
                None => out.push_str("client: unreadable\n"),
            },
            Ok(None) => out.push_str("client: none registered\n"),
            Err(e) => out.push_str(&format!("client: {e}\n")),
        }
        match store.load("tokens.json") {
            Ok(Some(v)) => match Tokens::from_json(&v) {
                Some(t) => {
                    let exp = match t.expires_at {
                        Some(at) if at > store::now_secs() => {
                            format!("expires in {}s", at - store::now_secs())
                        }
                        Some(_) => "expired".to_string(),
                        None => "no expiry given".to_string(),
                    };
                    let id = match &t.id_token {
                        Some(i) => match jwt::expiry(i.expose()) {
                            Ok(at) if at > store::now_secs() => {
                                format!("ID token expires in {}s; ", at - store::now_secs())
                            }
                            Ok(_) => "ID token expired; ".to_string(),
                            Err(e) => format!("{e}; "),
                        },
                        None => String::new(),
                    };
                    out.push_str(&format!(
                        "tokens: from {} by {}; access token {exp}; {id}{}; scopes: {}\n",
                        t.issuer,
                        t.grant.describe(),
                        if t.refresh_token.is_some() {
                            "refresh token stored"
                        } else {
                            "no refresh token"
                        },
                        t.scope.as_deref().unwrap_or("(none)")
                    ));
                }
                None => out.push_str("tokens: unreadable\n"),
            },
            Ok(None) => out.push_str("tokens: none (not signed in)\n"),
            Err(e) => out.push_str(&format!("tokens: {e}\n")),
        }
        out
    }

    fn replaced_since(&self, used: Option<&Secret>) -> bool {
        let c = lock(&self.current);
        match (&c.tokens, used) {
            (Some(t), Some(u)) => self.sent(t) != u,
            (Some(_), None) => true,
            _ => false,
        }
    }

    /// Runs `f` holding the cross-process lock (when there is a store).
    fn with_file_lock<T>(&self, f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
        let Some(store) = &self.store else { return f() };
        let deadline = after(
            Instant::now(),
            self.s.auth_timeout + Duration::from_secs(10),
        );
        let guard = store.lock(deadline, &|| !self.stop.load(Ordering::SeqCst))?;
        let r = f();
        drop(guard);
        r
    }

    /// The stored tokens this configuration would use (`--doctor` asks).
    pub fn stored_tokens(&self) -> Option<Tokens> {
        self.load_tokens()
    }

    fn load_tokens(&self) -> Option<Tokens> {
        let store = self.store.as_ref()?;
        match store.load("tokens.json") {
            Ok(Some(v)) => match Tokens::from_json(&v) {
                Some(t) if self.s.use_id_token && t.id_token.is_none() => {
                    log::info!("the stored tokens have no ID token, which --use-id-token sends; signing in again");
                    None
                }
                // Tokens are stored per server, not per identity: a service's client
                // credentials and a person's sign-in must not pass for each other.
                Some(t) if t.grant != self.s.grant => {
                    log::info!(
                        "the stored tokens come from {}, not {}; signing in again",
                        t.grant.describe(),
                        self.s.grant.describe()
                    );
                    None
                }
                Some(t) if self.issued_to_another_client(&t) => {
                    log::info!("the stored tokens were issued to client {}, not to the one of --static-oauth-client-info; signing in again", t.client_id.as_deref().unwrap_or_default());
                    None
                }
                Some(t) => Some(t),
                None => {
                    log::warn!(
                        "{} is missing fields; ignoring it",
                        store.dir().join("tokens.json").display()
                    );
                    None
                }
            },
            Ok(None) => None,
            Err(e) => {
                log::warn!("{e}");
                None
            }
        }
    }

    /// Whether `t` records a client other than the static one configured. Tokens that record
    /// none (older files) are taken to be the configured client's.
    fn issued_to_another_client(&self, t: &Tokens) -> bool {
        let configured = self
            .s
            .static_client_info
            .as_ref()
            .and_then(|i| i.get("client_id"))
            .and_then(Value::as_str);
        matches!((configured, &t.client_id), (Some(c), Some(id)) if c != id)
    }

    fn adopt(&self, t: Tokens, issued_now: bool) {
        self.http.set_bearer(Some(self.sent(&t).clone()));
        let mut c = lock(&self.current);
        let kept = c.tokens.as_ref().map(|o| self.sent(o)) == Some(self.sent(&t));
        let now = Instant::now();
        c.hold = issued_now.then(|| after(now, self.lifetime(&t, kept) / 2));
        c.tokens = Some(t);
        c.issued = issued_now.then_some(now);
    }

    /// How long the token sent lives, from now. An ID token's is exp - iat: both are on the
    /// server's clock, so a clock here that is ahead does not shorten it. Without iat, or for an
    /// ID token `kept` from before (a refresh that brought none), the time left until it
    /// expires; for an access token, its expires_in.
    fn lifetime(&self, t: &Tokens, kept: bool) -> Duration {
        let now = store::now_secs();
        let secs = match (&t.id_token, self.s.use_id_token) {
            (Some(id), true) => {
                let exp = jwt::expiry(id.expose()).unwrap_or(0);
                match jwt::issued_at(id.expose()).filter(|_| !kept) {
                    Some(iat) if exp > iat => exp - iat,
                    _ => exp.saturating_sub(now),
                }
            }
            _ => t.expires_at.map_or(0, |at| at.saturating_sub(now)),
        };
        Duration::from_secs(secs)
    }

    /// Saves tokens before anyone uses them, so a rotated refresh token is never lost.
    fn keep(&self, t: Tokens) -> Result<(), String> {
        self.save_only(&t)?;
        self.adopt(t, true);
        Ok(())
    }

    fn save_only(&self, t: &Tokens) -> Result<(), String> {
        match &self.store {
            Some(store) => store.save("tokens.json", &t.to_json()),
            None => Ok(()),
        }
    }

    /// Drops the current tokens, and the stored ones if they are the same: a file holding
    /// others (a rotated refresh token saved by a refresh whose answer could not be used,
    /// tokens another mcp-remote just obtained) is left alone.
    fn forget_tokens(&self) {
        self.http.set_bearer(None);
        let gone = lock(&self.current).tokens.take();
        if let Some(store) = &self.store {
            let stored = store
                .load("tokens.json")
                .ok()
                .flatten()
                .and_then(|v| Tokens::from_json(&v));
            if stored.is_none() || stored == gone {
                store.remove("tokens.json");
            }
        }
    }

    /// Discovery (kept for refreshes), the scope to ask for (the challenge's, else what the
    /// metadata offers), then the grant: registration, the browser, the exchange by default.
    fn sign_in(
        &self,
        scope_hint: Option<&str>,
        resource_metadata: Option<&str>,
        version: Option<&str>,
    ) -> Result<(), String> {
        let found = self.discover(resource_metadata, version)?;
        let mut scope = discovery::pick_scope(scope_hint, found.prm.as_ref(), &found.asm);
        if self.s.use_id_token {
            // Servers issue ID tokens for the openid scope (OpenID Connect Core 3.1.2.1), and
            // only the browser's URL takes --authorize-param: ask for it with every grant.
            scope = discovery::union_scopes(scope.as_deref(), Some("openid"));
        }
        let scope = scope.as_deref();
        lock(&self.current).found = Some(found.clone());
        match self.s.grant {
            Grant::ClientCredentials => return self.client_credentials(&found, scope),
            Grant::DeviceCode => return self.device_code(&found, scope),
            Grant::AuthorizationCode => {}
        }
        self.healing(|skip_stored| {
            let (cb, client, stored) = self
                .callback_and_client(&found, skip_stored)
                .map_err(Failure::Other)?;
            let (tokens, pending) = self
                .authorize(&found, &cb, &client, scope)
                .map_err(|f| f.healable_if(stored))?;
            // The browser hears of success only once the tokens are saved; a failed save drops
            // `pending`, which shows the failure page.
            self.keep(tokens).map_err(Failure::Other)?;
            pending.succeeded();
            Ok(())
        })
    }

    /// Runs `attempt`; when it finds the stored registration stale, drops it and tries once
    /// more with a new one (`attempt` is told to skip the store).
    fn healing(&self, mut attempt: impl FnMut(bool) -> Result<(), Failure>) -> Result<(), String> {
        let mut healed = false;
        loop {
            match attempt(healed) {
                Ok(()) => return Ok(()),
                Err(Failure::StaleClient(why)) if !healed => {
                    log::info!("the authorization server no longer knows the stored registration ({why}); registering again");
                    if let Some(store) = &self.store {
                        store.remove("client.json");
                    }
                    healed = true;
                }
                Err(Failure::StaleClient(why)) | Err(Failure::Other(why)) => return Err(why),
            }
        }
    }

    /// RFC 8628: the user signs in on any device with the code printed here, while this
    /// process polls the token endpoint. No callback port.
    fn device_code(&self, found: &Found, scope: Option<&str>) -> Result<(), String> {
        let endpoint = found.asm.device_authorization_endpoint.clone().ok_or_else(|| {
            format!("the authorization server {} offers no device sign-in (its metadata has no device_authorization_endpoint); sign in without --device-code", found.asm.issuer)
        })?;
        self.check_endpoint(&endpoint)?;
        self.healing(|skip_stored| {
            let (client, stored) = self
                .device_client(found, skip_stored)
                .map_err(Failure::Other)?;
            let tokens = self
                .device_sign_in(found, &endpoint, &client, scope)
                .map_err(|f| f.healable_if(stored))?;
            self.keep(tokens).map_err(Failure::Other)
        })
    }

    /// The client for the device flow: static, else a stored registration made for it, else a
    /// new one. A registration made for the browser flow has a redirect URI and may lack the
    /// device grant, so it is not used here (and one made here has none, so the browser flow
    /// registers anew).
    fn device_client(&self, f: &Found, skip_stored: bool) -> Result<(Client, bool), String> {
        if let Some(c) = self.static_client(&f.asm, None) {
            return Ok((c, false));
        }
        let stored = (!skip_stored)
            .then(|| self.stored_client(&f.asm.issuer))
            .flatten()
            .filter(|c| c.redirect_uri.is_none());
        match stored {
            Some(c) => Ok((c, true)),
            None => Ok((self.register(f, None)?, false)),
        }
    }

    /// The device authorization request, the prompt, and the polling of the token endpoint.
    fn device_sign_in(
        &self,
        f: &Found,
        endpoint: &str,
        client: &Client,
        scope: Option<&str>,
    ) -> Result<Tokens, Failure> {
        let resource = self.resource(f);
        let mut form: Vec<(&str, &str)> = Vec::new();
        if let Some(s) = scope {
            form.push(("scope", s));
        }
        if let Some(r) = &resource {
            form.push(("resource", r));
        }
        let r = self
            .client_post(endpoint, client, form.clone())
            .map_err(Failure::Other)?;
        if !r.ok() {
            return Err(Failure::refusal(&r, "the device authorization request"));
        }
        let v = r.json.unwrap_or_default();
        let text = |k: &str| v.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
        let (Some(device_code), Some(user_code), Some(uri)) = (
            text("device_code").map(Secret::new),
            text("user_code"),
            text("verification_uri"),
        ) else {
            return Err(Failure::Other("the device authorization response lacks device_code, user_code or verification_uri".into()));
        };
        let (mut interval, lifetime) = device_timing(&v);
        // The server's strings reach the user's terminal: no control characters (escape
        // sequences could rewrite what the terminal shows), and only web addresses.
        let uri = verification_uri(uri).map_err(Failure::Other)?;
        let user_code = crate::http::one_line(user_code, 64);
        eprintln!(
            "mcp-remote: sign in to {}: visit {uri} and enter the code {user_code}",
            self.server.origin()
        );
        let mut child = None;
        match text("verification_uri_complete").map(verification_uri) {
            Some(Ok(complete)) => {
                eprintln!("mcp-remote: or open: {complete}");
                child = callback::open_browser(&complete, self.s.browser.as_deref())
                    .map_err(|e| log::warn!("{e}"))
                    .ok();
            }
            Some(Err(e)) => log::warn!("{e}; not opening it"),
            None => {}
        }
        let started = Instant::now();
        let expires = after(started, lifetime);
        let timeout = after(started, self.s.auth_timeout);
        let result = loop {
            if !self.pause(interval, expires.min(timeout)) {
                break Err(Failure::Other(if self.stop.load(Ordering::SeqCst) {
                    "stopped waiting for the device sign-in (stdin closed)".into()
                } else if expires <= timeout {
                    "the device code expired before the sign-in was completed".into()
                } else {
                    "timed out waiting for the device sign-in (see --auth-timeout)".into()
                }));
            }
            form.retain(|(k, _)| *k == "resource");
            form.push(("grant_type", DEVICE_GRANT));
            form.push(("device_code", device_code.expose()));
            let r = match self.token_request(f, client, form.clone()) {
                Ok(r) => r,
                Err(e) => break Err(Failure::Other(e)),
            };
            if r.ok() {
                break self
                    .tokens_from(&r, client, scope, None, self.s.use_id_token)
                    .map_err(Failure::Other);
            }
            let error = r
                .json
                .as_ref()
                .and_then(|j| j.get("error"))
                .and_then(Value::as_str);
            match error.unwrap_or_default() {
                "authorization_pending" => {}
                "slow_down" => interval = slower(interval),
                "access_denied" => break Err(Failure::Other("the sign-in was denied".into())),
                "expired_token" => {
                    break Err(Failure::Other(
                        "the device code expired before the sign-in was completed".into(),
                    ))
                }
                _ => {
                    break Err(Failure::Other(format!(
                        "the device sign-in failed: {}",
                        r.oauth_error()
                    )))
                }
            }
        };
        reap(child);
        result
    }

    /// Sleeps `d` in short steps, so that stdin closing ends the wait at once. False when the
    /// wait must end instead: stdin closed, or `deadline` came first.
    fn pause(&self, d: Duration, deadline: Instant) -> bool {
        let until = after(Instant::now(), d);
        loop {
            if self.stop.load(Ordering::SeqCst) {
                return false;
            }
            let now = Instant::now();
            if now >= until {
                return true;
            }
            if now >= deadline {
                return false;
            }
            std::thread::sleep((until.min(deadline) - now).min(Duration::from_millis(100)));
        }
    }

    /// RFC 6749 section 4.4: the client's own credentials (from --static-oauth-client-info) at
    /// the token endpoint, with the resource and scope the code flow would ask for. No browser,
    /// no callback, and no refresh token needed: a refused token is simply replaced.
    fn client_credentials(&self, found: &Found, scope: Option<&str>) -> Result<(), String> {
        let client = self
            .static_client(&found.asm, None)
            .filter(|c| c.client_secret.is_some())
            .ok_or("--client-credentials needs --static-oauth-client-info with a client_secret")?;
        let resource = self.resource(found);
        let mut form: Vec<(&str, &str)> = vec![("grant_type", "client_credentials")];
        if let Some(r) = &resource {
            form.push(("resource", r));
        }
        if let Some(s) = scope {
            form.push(("scope", s));
        }
        let r = self.token_request(found, &client, form)?;
        if !r.ok() {
            return Err(format!(
                "the token endpoint refused the client credentials: {}",
                r.oauth_error()
            ));
        }
        let tokens = self.tokens_from(&r, &client, scope, None, self.s.use_id_token)?;
        log::info!(
            "obtained a token with the client credentials of {}",
            client.client_id
        );
        self.keep(tokens)
    }

    fn discover(
        &self,
        resource_metadata: Option<&str>,
        version: Option<&str>,
    ) -> Result<Found, String> {
        if let Some(te) = &self.s.token_endpoint {
            return Ok(Found {
                prm: None,
                asm: discovery::token_endpoint_only(te),
            });
        }
        // PKCE matters only where there is an authorization request.
        let browser = self.s.grant == Grant::AuthorizationCode;
        let headers: Vec<(&str, &str)> = version
            .map(|v| vec![("MCP-Protocol-Version", v)])
            .unwrap_or_default();
        let mut prm = None;
        for u in discovery::prm_candidates(&self.server, resource_metadata) {
            let Some(doc) = self.fetch(&u, &headers)? else {
                continue;
            };
            prm = Some(discovery::check_prm(&doc, &self.server)?);
            log::debug!("protected resource metadata at {u}");
            break;
        }
        let asm = match &prm {
            Some(p) => {
                let issuer = &p.authorization_servers[0];
                let mut last = format!("no authorization server metadata found for {issuer}");
                let mut got = None;
                for u in discovery::as_candidates(issuer)? {
                    let Some(doc) = self.fetch(&u, &headers)? else {
                        continue;
                    };
                    match discovery::check_as_metadata(&doc, issuer, browser, browser) {
                        Ok(m) => {
                            got = Some(m);
                            break;
                        }
                        Err(e) => {
                            log::warn!("{e} ({u})");
                            last = e;
                        }
                    }
                }
                got.ok_or(last)?
            }
            None => {
                // 2025-03-26: the authorization server lives at the MCP server's origin.
                let u = format!(
                    "{}/.well-known/oauth-authorization-server",
                    self.server.origin()
                );
                match self.fetch(&u, &headers)? {
                    Some(doc) => {
                        let issuer = doc
                            .get("issuer")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string();
                        if !Url::parse(&issuer).is_ok_and(|i| i.same_origin(&self.server)) {
                            return Err(format!("authorization server metadata at {u} names issuer {issuer:?} on another origin"));
                        }
                        discovery::check_as_metadata(&doc, &issuer, browser, false)?
                    }
                    None => {
                        log::info!(
                            "no authorization server metadata; using the default endpoints at {}",
                            self.server.origin()
                        );
                        discovery::default_endpoints(&self.server)
                    }
                }
            }
        };
        if let Some(store) = &self.store {
            let doc = json!({"issuer": asm.issuer, "resource": prm.as_ref().map(|p| p.resource.clone()),
                "authorization_endpoint": asm.authorization_endpoint, "token_endpoint": asm.token_endpoint,
                "registration_endpoint": asm.registration_endpoint});
            if let Err(e) = store.save("metadata.json", &doc) {
                log::warn!("{e}");
            }
        }
        Ok(Found { prm, asm })
    }

    /// GETs a metadata document; `None` when it is not there (any 4xx/5xx or non-JSON).
    fn fetch(&self, u: &str, headers: &[(&str, &str)]) -> Result<Option<Value>, String> {
        self.check_endpoint(u)?;
        match self.http.get_json(u, headers) {
            Ok(r) if r.ok() => Ok(r.json.filter(Value::is_object)),
            Ok(r) => {
                log::debug!("{u}: HTTP {}", r.status);
                Ok(None)
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// OAuth endpoints must be https, except on loopback hosts (development and tests), and the
    /// --token-endpoint the command line allowed (http there needs --allow-http).
    fn check_endpoint(&self, u: &str) -> Result<(), String> {
        let p = Url::parse(u)?;
        if p.scheme == "https"
            || p.is_loopback()
            || self.s.token_endpoint.as_deref() == Some(u)
            || (self.server.scheme == "http" && p.same_origin(&self.server))
        {
            Ok(())
        } else {
            Err(format!("refusing the non-https sign-in URL {u}"))
        }
    }

    /// Binds the callback and picks the client: static, metadata document, stored, or newly
    /// registered. Returns whether the client came from the store.
    fn callback_and_client(
        &self,
        f: &Found,
        skip_stored: bool,
    ) -> Result<(Callback, Client, bool), String> {
        let stored = if skip_stored {
            None
        } else {
            self.stored_client(&f.asm.issuer)
        };
        let wanted = match self.s.callback_port {
            0 => stored.as_ref().and_then(Client::redirect_port).unwrap_or(0),
            p => p,
        };
        let bind = |port| {
            let success = self.s.auth_success_url.as_deref();
            Callback::bind(&self.s.host, port, &self.s.callback_path, success)
        };
        let cb = match bind(wanted) {
            Ok(cb) => cb,
            Err(e) if self.s.callback_port == 0 && wanted != 0 => {
                log::info!("{e}; using another port and registering again");
                bind(0)?
            }
            Err(e) => return Err(e),
        };
        let redirect = cb.redirect_uri();
        if let Some(c) = self.static_client(&f.asm, Some(redirect.clone())) {
            return Ok((cb, c, false));
        }
        if let (Some(cimd), true) = (&self.s.client_metadata_url, f.asm.cimd_supported) {
            let c = Client {
                issuer: f.asm.issuer.clone(),
                client_id: cimd.clone(),
                client_secret: None,
                redirect_uri: Some(redirect),
                auth_method: "none".into(),
                registration_access_token: None,
                registration_client_uri: None,
            };
            return Ok((cb, c, false));
        }
        if let Some(c) = stored {
            if c.redirect_uri.as_deref() == Some(redirect.as_str()) {
                return Ok((cb, c, true));
            }
            log::info!("the callback address changed; registering again");
        }
        let c = self.register(f, Some(&redirect))?;
        Ok((cb, c, false))
    }

    /// The client given with `--static-oauth-client-info`. With a secret, it authenticates at the
    /// token endpoint as the server prefers (basic unless only post is offered).
    fn static_client(&self, asm: &ServerMetadata, redirect: Option<String>) -> Option<Client> {
        let info = self.s.static_client_info.as_ref()?;
        let has_secret = info.get("client_secret").and_then(Value::as_str).is_some();
        let offered = |m: &str| asm.token_endpoint_auth_methods.iter().any(|x| x == m);
        let method = match info
            .get("token_endpoint_auth_method")
            .and_then(Value::as_str)
        {
            Some(m) => m,
            None if !has_secret => "none",
            None if offered("client_secret_post") && !offered("client_secret_basic") => {
                "client_secret_post"
            }
            None => "client_secret_basic",
        };
        let mut v = info.clone();
        v["issuer"] = json!(asm.issuer);
        v["redirect_uri"] = json!(redirect);
        v["token_endpoint_auth_method"] = json!(method);
        Client::from_json(&v)
    }

    fn stored_client(&self, issuer: &str) -> Option<Client> {
        let store = self.store.as_ref()?;
        match store.load("client.json") {
            Ok(Some(v)) => Client::from_json(&v).filter(|c| {
                let same = c.issuer == issuer;
                if !same {
                    log::info!("the stored registration is for another authorization server ({}); registering with {issuer}", c.issuer);
                }
                same
            }),
            Ok(None) => None,
            Err(e) => {
                log::warn!("{e}");
                None
            }
        }
    }

    /// RFC 7591 dynamic client registration.
    /// Without a redirect URI: a registration for the device flow.
    fn register(&self, f: &Found, redirect: Option<&str>) -> Result<Client, String> {
        let endpoint = f.asm.registration_endpoint.clone().ok_or(
            "the authorization server does not support dynamic client registration; pass --static-oauth-client-info '{\"client_id\":\"...\"}'",
        )?;
        self.check_endpoint(&endpoint)?;
        let method = discovery::pick_auth_method(&f.asm.token_endpoint_auth_methods);
        let mut meta = json!({
            "client_name": "mcp-remote",
            "token_endpoint_auth_method": method,
            "application_type": "native",
            "software_id": "mcp-remote-rust",
            "software_version": env!("CARGO_PKG_VERSION"),
        });
        match redirect {
            Some(r) => {
                meta["redirect_uris"] = json!([r]);
                meta["grant_types"] = json!(["authorization_code", "refresh_token"]);
                meta["response_types"] = json!(["code"]);
            }
            // The device flow redirects nowhere and asks for no authorization code.
            None => meta["grant_types"] = json!([DEVICE_GRANT, "refresh_token"]),
        }
        if let (Some(extra), Some(m)) = (
            self.s
                .static_client_metadata
                .as_ref()
                .and_then(Value::as_object),
            meta.as_object_mut(),
        ) {
            for (k, v) in extra {
                m.insert(k.clone(), v.clone());
            }
        }
        let body = serde_json::to_vec(&meta).map_err(|e| e.to_string())?;
        let r = self
            .http
            .post_oauth(&endpoint, "application/json", &body, &[])
            .map_err(|e| e.to_string())?;
        if !r.ok() {
            return Err(format!("client registration failed: {}", r.oauth_error()));
        }
        // The registration response, plus what it may leave out, is the stored form of a client.
        let mut v = r.json.filter(Value::is_object).unwrap_or_else(|| json!({}));
        v["issuer"] = json!(f.asm.issuer);
        v["redirect_uri"] = json!(redirect);
        if v.get("token_endpoint_auth_method").is_none() {
            v["token_endpoint_auth_method"] = json!(method);
        }
        let c = Client::from_json(&v).ok_or("client registration answered without a client_id")?;
        log::info!("registered with {} as client {}", f.asm.issuer, c.client_id);
        if let Some(store) = &self.store {
            store.save("client.json", &c.to_json())?;
        }
        Ok(c)
    }

    /// The browser round trip and the code exchange.
    fn authorize(
        &self,
        f: &Found,
        cb: &Callback,
        client: &Client,
        scope: Option<&str>,
    ) -> Result<(Tokens, callback::Pending), Failure> {
        // Discovery requires it for the browser flow; only --token-endpoint leaves it out, and
        // that goes with --client-credentials alone.
        let endpoint = f.asm.authorization_endpoint.as_deref().ok_or_else(|| {
            Failure::Other(format!(
                "the authorization server {} names no authorization_endpoint",
                f.asm.issuer
            ))
        })?;
        self.check_endpoint(endpoint).map_err(Failure::Other)?;
        let verifier = pkce::verifier().map_err(Failure::Other)?;
        let state = pkce::random_token().map_err(Failure::Other)?;
        let resource = self.resource(f);
        let redirect = cb.redirect_uri();
        let challenge = pkce::challenge(&verifier);
        let mut q: Vec<(&str, &str)> = vec![
            ("response_type", "code"),
            ("client_id", &client.client_id),
            ("redirect_uri", &redirect),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("state", &state),
        ];
        if let Some(r) = &resource {
            q.push(("resource", r));
        }
        if let Some(s) = scope {
            q.push(("scope", s));
        }
        // A parameter may appear once (RFC 6749 section 3.1): the user's `scope` or `resource`
        // replaces the one worked out here.
        q.retain(|(k, _)| !self.s.authorize_params.iter().any(|(u, _)| u == k));
        q.extend(
            self.s
                .authorize_params
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
        let sep = if endpoint.contains('?') { '&' } else { '?' };
        let target = format!("{endpoint}{sep}{}", url::form(&q));
        eprintln!("mcp-remote: sign in to {} in your browser; if it does not open, visit:\nmcp-remote: {target}", self.server.origin());
        let child = match callback::open_browser(&target, self.s.browser.as_deref()) {
            Ok(c) => Some(c),
            Err(e) => {
                log::warn!("{e}");
                None
            }
        };
        let result = cb.wait(&state, after(Instant::now(), self.s.auth_timeout), &|| {
            self.stop.load(Ordering::SeqCst)
        });
        reap(child);
        let (redirect_back, pending) = match result {
            Ok(r) => r,
            Err(e)
                if e.contains("invalid_client")
                    || e.contains("unauthorized_client")
                    || e.contains("redirect") =>
            {
                return Err(Failure::StaleClient(e))
            }
            Err(e) => return Err(Failure::Other(e)),
        };
        // RFC 9207: an `iss` must be the issuer exactly; a server that promises one must send it.
        match (&redirect_back.iss, f.asm.iss_parameter_supported) {
            (Some(iss), _) if *iss != f.asm.issuer => {
                return Err(Failure::Other(format!(
                    "the sign-in response came from issuer {iss:?}, not {:?}: refusing it",
                    f.asm.issuer
                )))
            }
            (None, true) => {
                return Err(Failure::Other(
                    "the sign-in response lacks the iss parameter its server promised: refusing it"
                        .into(),
                ))
            }
            _ => {}
        }
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "authorization_code"),
            ("code", &redirect_back.code),
            ("redirect_uri", &redirect),
            ("code_verifier", verifier.expose()),
        ];
        if let Some(r) = &resource {
            form.push(("resource", r));
        }
        if self.stop.load(Ordering::SeqCst) {
            return Err(Failure::Other(
                "stdin closed before the sign-in completed".into(),
            ));
        }
        let r = self
            .token_request(f, client, form)
            .map_err(Failure::Other)?;
        if !r.ok() {
            return Err(Failure::refusal(&r, "the token exchange"));
        }
        let tokens = self
            .tokens_from(&r, client, scope, None, self.s.use_id_token)
            .map_err(Failure::Other)?;
        // The caller tells the browser (our page, or --auth-success-url) once the tokens are
        // saved; on every failure before that, dropping `pending` shows a failure page.
        Ok((tokens, pending))
    }

    /// Uses the refresh token; saves rotated tokens before the new access token is used.
    /// `refused`: the server refused the token `used` (a 401), so it must not be sent again.
    fn refresh_now(&self, used: Option<&Secret>, refused: bool) -> Result<(), String> {
        let (tokens, found) = {
            let c = lock(&self.current);
            (c.tokens.clone(), c.found.clone())
        };
        let Some(t) = tokens else {
            return Err("no tokens".into());
        };
        if used.is_some_and(|u| u != self.sent(&t)) {
            return Ok(());
        }
        let rt = t.refresh_token.clone().ok_or("no refresh token")?;
        let found = match found {
            Some(f) if f.asm.issuer == t.issuer => f,
            _ => self.discover(None, None)?,
        };
        if found.asm.issuer != t.issuer {
            return Err("the authorization server changed; signing in again".into());
        }
        lock(&self.current).found = Some(found.clone());
        let client = self
            .static_client(&found.asm, None)
            .or_else(|| self.stored_client(&t.issuer));
        let client = client.ok_or("no client registration to refresh with")?;
        let resource = self.resource(&found);
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", rt.expose()),
        ];
        if let Some(r) = &resource {
            form.push(("resource", r));
        }
        if let Some(s) = &t.scope {
            form.push(("scope", s));
        }
        let r = self.token_request(&found, &client, form)?;
        if !r.ok() {
            return Err(format!("the refresh was refused: {}", r.oauth_error()));
        }
        // The refresh token may have rotated: from here on nothing may fail before the answer
        // is saved, or the only refresh token left would be the spent one.
        let mut new = self.tokens_from(&r, &client, t.scope.as_deref(), Some(rt), false)?;
        if self.s.use_id_token {
            // OpenID Connect Core 12.2: a refresh response MAY leave the ID token out.
            if let Err(why) = usable_id_token(new.id_token.as_ref()) {
                // The current ID token may go on only while it is good: not refused by the
                // server, and not expired.
                if refused || t.id_token_expires_within(0) {
                    new.id_token = None;
                    self.save_only(&new)?;
                    // Nothing current: the next request goes without a token, and its 401
                    // signs in anew (the saved tokens lack the ID token, so none are used).
                    self.http.set_bearer(None);
                    lock(&self.current).tokens = None;
                    return Err(format!(
                        "{why}, and the current ID token was refused or has expired; the new refresh token is saved, but --use-id-token needs a new sign-in"
                    ));
                }
                log::info!("{why}; the current ID token is used until it expires");
                new.id_token = t.id_token.clone();
            }
        }
        self.keep(new)
    }

    fn token_request<'a>(
        &self,
        f: &Found,
        client: &'a Client,
        form: Vec<(&'a str, &'a str)>,
    ) -> Result<Reply, String> {
        self.client_post(&f.asm.token_endpoint, client, form)
    }

    /// POSTs `form` to an endpoint of the authorization server (token, device authorization)
    /// with the client's authentication, refusing a redirect.
    fn client_post<'a>(
        &self,
        endpoint: &str,
        client: &'a Client,
        mut form: Vec<(&'a str, &'a str)>,
    ) -> Result<Reply, String> {
        self.check_endpoint(endpoint)?;
        let mut headers: Vec<(&str, String)> = Vec::new();
        match (client.auth_method.as_str(), &client.client_secret) {
            ("client_secret_basic", Some(secret)) => {
                let pair = format!(
                    "{}:{}",
                    url::encode(&client.client_id),
                    url::encode(secret.expose())
                );
                headers.push(("Authorization", format!("Basic {}", STANDARD.encode(pair))));
            }
            ("client_secret_post", Some(secret)) => {
                form.push(("client_id", &client.client_id));
                form.push(("client_secret", secret.expose()));
            }
            _ => form.push(("client_id", &client.client_id)),
        }
        let hs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = self
            .http
            .post_oauth(
                endpoint,
                "application/x-www-form-urlencoded",
                url::form(&form).as_bytes(),
                &hs,
            )
            .map_err(|e| e.to_string())?;
        if (300..400).contains(&r.status) {
            return Err(format!(
                "{endpoint} answered with a redirect (HTTP {}); refusing to follow it",
                r.status
            ));
        }
        Ok(r)
    }

    fn resource(&self, f: &Found) -> Option<String> {
        match &self.s.resource {
            Some(r) if r.is_empty() => None,
            Some(r) => Some(r.clone()),
            None => Some(
                f.prm
                    .as_ref()
                    .map(|p| p.resource.clone())
                    .unwrap_or_else(|| self.server.canonical()),
            ),
        }
    }

    /// Why a token response without an `id_token` fails under --use-id-token, and what to do.
    fn no_id_token(&self) -> String {
        let replaced = self.s.grant == Grant::AuthorizationCode
            && self
                .s
                .authorize_params
                .iter()
                .any(|(k, v)| k == "scope" && !v.split_whitespace().any(|s| s == "openid"));
        let why = if replaced {
            "your --authorize-param scope, which replaces the one asked for, lacks openid: add it"
        } else {
            "it was asked for the openid scope, so the authorization server may not issue ID tokens to this client"
        };
        format!("the token endpoint answered without an id_token, which --use-id-token sends ({why}; or leave --use-id-token out)")
    }

    /// The tokens of a token endpoint's answer to `client` (and so from its issuer), marked with
    /// the grant configured. With `want_id_token` (`--use-id-token`) the answer must carry an
    /// `id_token` whose expiry can be read.
    fn tokens_from(
        &self,
        r: &Reply,
        client: &Client,
        requested: Option<&str>,
        old_refresh: Option<Secret>,
        want_id_token: bool,
    ) -> Result<Tokens, String> {
        let v = r
            .json
            .as_ref()
            .ok_or("the token endpoint answered without JSON")?;
        let at = v
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or("the token endpoint answered without an access_token")?;
        if let Some(tt) = v.get("token_type").and_then(Value::as_str) {
            if !tt.eq_ignore_ascii_case("bearer") {
                return Err(format!(
                    "the token endpoint issued a {tt:?} token; only Bearer is supported"
                ));
            }
        }
        let id_token = v
            .get("id_token")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        if want_id_token {
            let id = id_token.ok_or_else(|| self.no_id_token())?;
            jwt::expiry(id).map_err(|e| format!("{e}: --use-id-token cannot use it"))?;
        }
        Ok(Tokens {
            issuer: client.issuer.clone(),
            access_token: Secret::new(at),
            refresh_token: v
                .get("refresh_token")
                .and_then(Value::as_str)
                .map(Secret::new)
                .or(old_refresh),
            expires_at: v
                .get("expires_in")
                .and_then(Value::as_u64)
                // Saturating: a hostile expires_in must not overflow (the release build aborts).
                .map(|s| store::now_secs().saturating_add(s)),
            scope: v
                .get("scope")
                .and_then(Value::as_str)
                .map(str::to_string)
                .or(requested.map(str::to_string)),
            id_token: id_token.map(Secret::new),
            grant: self.s.grant,
            client_id: Some(client.client_id.clone()),
        })
    }
}

enum Failure {
    /// The authorization server does not know the client (any more).
    StaleClient(String),
    Other(String),
}

impl Failure {
    /// The authorization server refused `what`: a stale client when it no longer knows it.
    fn refusal(r: &Reply, what: &str) -> Failure {
        let why = r.oauth_error();
        if why.starts_with("invalid_client") || why.starts_with("unauthorized_client") {
            Failure::StaleClient(why)
        } else {
            Failure::Other(format!("{what} failed: {why}"))
        }
    }

    /// Only a stored registration can be healed by registering again.
    fn healable_if(self, stored: bool) -> Failure {
        match self {
            Failure::StaleClient(why) if !stored => Failure::Other(why),
            f => f,
        }
    }
}

/// A verification URI of a device authorization response, checked before it is shown or opened:
/// an https URL, or http on a loopback host (a local server), without control characters.
fn verification_uri(u: &str) -> Result<String, String> {
    let clean = crate::http::one_line(u, 2000);
    match Url::parse(u) {
        Ok(p) if clean == u && (p.scheme == "https" || p.is_loopback()) => Ok(clean),
        _ => Err(format!(
            "the device authorization response names {:?} to visit, which is not an https URL",
            crate::http::one_line(u, 100)
        )),
    }
}

/// Whether --use-id-token can send this ID token: there is one, and its expiry can be read.
fn usable_id_token(id: Option<&Secret>) -> Result<(), String> {
    let id = id.ok_or("the token endpoint answered without an id_token")?;
    jwt::expiry(id.expose())
        .map(drop)
        .map_err(|e| format!("{e}: --use-id-token cannot use it"))
}

/// The poll interval and the code lifetime of a device authorization response (RFC 8628
/// section 3.2; 5 s and 30 minutes when left out), within bounds: the server's numbers are added
/// to the clock, where an overflow panics, and the release build aborts on a panic.
fn device_timing(v: &Value) -> (Duration, Duration) {
    let secs = |k: &str, default: u64| v.get(k).and_then(Value::as_u64).unwrap_or(default);
    let interval =
        Duration::from_secs(secs("interval", 5)).clamp(Duration::from_secs(1), MAX_POLL_INTERVAL);
    let lifetime = Duration::from_secs(secs("expires_in", 1800)).min(MAX_DEVICE_CODE_LIFETIME);
    (interval, lifetime)
}

/// The poll interval after a `slow_down` answer: 5 s more (RFC 8628 section 3.5), within bounds.
fn slower(interval: Duration) -> Duration {
    (interval + Duration::from_secs(5)).min(MAX_POLL_INTERVAL)
}

/// `from + d`, or a time a century away where that sum would overflow the clock (a huge
/// --auth-timeout): `Instant + Duration` panics there, and the release build aborts on a panic.
fn after(from: Instant, d: Duration) -> Instant {
    from.checked_add(d)
        .or_else(|| from.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(from)
}

/// Collects the browser launcher's exit status if it has finished; a launcher that is still
/// running (a real browser) is left alone.
fn reap(child: Option<std::process::Child>) {
    if let Some(mut c) = child {
        let _ = c.try_wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verification_uris_are_web_addresses_on_one_line() {
        for good in [
            "https://as.example/device",
            "https://as.example/device?user_code=WDJB-MJHT",
            "http://127.0.0.1:8080/device",
        ] {
            assert_eq!(verification_uri(good).as_deref(), Ok(good));
        }
        for bad in [
            "http://as.example/device",
            "javascript:alert(1)",
            "file:///etc/passwd",
            "https://as.example/\u{1b}[2Jdevice",
            "https://as.example/device\nmcp-remote: signed in",
        ] {
            let e = verification_uri(bad).unwrap_err();
            assert!(
                e.contains("not an https URL") && !e.contains(['\u{1b}', '\n']),
                "{e}"
            );
        }
    }

    #[test]
    fn device_timing_is_bounded() {
        let secs = Duration::from_secs;
        assert_eq!(device_timing(&json!({})), (secs(5), secs(1800)));
        assert_eq!(
            device_timing(&json!({"interval": 0, "expires_in": 600})),
            (secs(1), secs(600))
        );
        assert_eq!(
            device_timing(&json!({"interval": u64::MAX, "expires_in": u64::MAX})),
            (MAX_POLL_INTERVAL, MAX_DEVICE_CODE_LIFETIME)
        );
        // Not numbers of seconds: the defaults.
        assert_eq!(
            device_timing(&json!({"interval": -3, "expires_in": "soon"})),
            (secs(5), secs(1800))
        );
        assert_eq!(slower(secs(1)), secs(6));
        assert_eq!(slower(secs(58)), MAX_POLL_INTERVAL);
        assert_eq!(slower(MAX_POLL_INTERVAL), MAX_POLL_INTERVAL);
        let now = Instant::now();
        assert_eq!(after(now, secs(1)), now + secs(1));
        assert!(after(now, Duration::MAX) > now + secs(3600));
    }
}
