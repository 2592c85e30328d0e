//! The command line: lexopt fills a plain [`Args`] (values as typed, no I/O), then
//! [`Config::from_args`] validates them against each other and the environment. Every error names
//! the flag it is about; `--help` and `--version` return before anything else is read.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::error::Error;
use crate::headers::{self, Header};
use crate::secret::SecretJson;

/// What the command line asked for, as typed.
#[derive(Debug, Default)]
pub struct Args {
    pub special: Option<Special>,
    pub url: Option<String>,
    pub callback_port: Option<String>,
    pub headers: Vec<String>,
    pub header_files: Vec<PathBuf>,
    pub ca_files: Vec<PathBuf>,
    pub connect_timeout: Option<String>,
    pub ipv4: bool,
    pub keep_alive: bool,
    pub ping_interval: Option<String>,
    pub enable_proxy: bool,
    pub no_proxy: bool,
    pub allow_http: bool,
    pub debug: bool,
    pub silent: bool,
    pub auth_timeout: Option<String>,
    pub static_client_metadata: Option<String>,
    pub static_client_info: Option<String>,
    pub resource: Option<String>,
    pub host: Option<String>,
    pub config_dir: Option<PathBuf>,
    pub transport: Option<String>,
    pub protocol: Option<String>,
    pub ignore_tools: Vec<String>,
    pub client_metadata_url: Option<String>,
    pub disable_resource_parameter: bool,
    pub callback_path: Option<String>,
    pub authorize_params: Vec<String>,
    pub auth_success_url: Option<String>,
    pub headers_timeout: Option<String>,
    pub body_timeout: Option<String>,
    pub disable_cookies: bool,
    pub use_id_token: bool,
    pub client_credentials: bool,
    pub token_endpoint: Option<String>,
    pub device_code: bool,
    pub command: Command,
    /// The flag that chose `command` as the user typed it (`--token`, `-c`), for messages.
    pub command_flag: Option<String>,
    pub json: bool,
    pub timeout: Option<String>,
}

/// Requests answered without reading any configuration.
#[derive(Debug, PartialEq)]
pub enum Special {
    Help,
    Version,
}

/// What this run does: proxy stdio (the default), one sign-in chore, or one MCP command (run by
/// [`crate::client`] through the proxy), and exit.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Command {
    #[default]
    Proxy,
    /// `--login` (also `--token`): sign in now and exit.
    Login,
    /// `--logout` (also `--reset-auth`): remove this server's stored sign-in state.
    Logout,
    /// `--auth-status` (also `--test-auth`): print what is stored, never a secret.
    AuthStatus,
    /// `--list-tools`: every page of `tools/list`.
    ListTools,
    /// `--list-resources`: every page of `resources/list`.
    ListResources,
    /// `--list-prompts`: every page of `prompts/list`.
    ListPrompts,
    /// `--call TOOL [ARGS]` (also `-c 'TOOL ARGS'`): ARGS is one JSON object or `key=value`s.
    Call { tool: String, args: Vec<String> },
    /// `--read-resource URI`.
    ReadResource(String),
    /// `--get-prompt NAME [key=value...]`.
    GetPrompt { name: String, args: Vec<String> },
    /// `--raw JSON`: one JSON-RPC message, sent after initializing.
    Raw(String),
    /// `--ping`: the round trip of one `ping`.
    Ping,
    /// `--client-info` (also `--get-client-info`): the stored registration, secrets redacted.
    ClientInfo,
    /// `--delete-client`: RFC 7592 DELETE of the stored registration, then the local state.
    DeleteClient,
    /// `--update-client key=value,...`: RFC 7592 PUT of the stored registration's metadata with
    /// those fields changed.
    UpdateClient(String),
    /// `--doctor`: check the way to the server step by step and say what to fix.
    Doctor,
}

impl Command {
    /// Whether this is an MCP command run through an in-process proxy ([`crate::client`]).
    pub fn is_one_shot(&self) -> bool {
        matches!(
            self,
            Command::ListTools
                | Command::ListResources
                | Command::ListPrompts
                | Command::Call { .. }
                | Command::ReadResource(_)
                | Command::GetPrompt { .. }
                | Command::Raw(_)
                | Command::Ping
        )
    }
}

/// How to reach the server when it may speak either transport (`--transport`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Transport {
    HttpFirst,
    SseFirst,
    HttpOnly,
    SseOnly,
}

/// Which protocol era is spoken with the server (`--protocol`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Protocol {
    /// Per message: `_meta` naming 2026-07-28 or later is modern, `initialize` is 2025; a
    /// 2025-era client is bridged when the server refuses `initialize` as a modern-only one does.
    Auto,
    /// Everything with the 2025 rules; never bridged.
    Legacy,
    /// The server speaks only 2026-07-28: a 2025-era client is bridged from its `initialize` on.
    Modern,
}

/// How sign-in obtains tokens.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Grant {
    /// The browser and a loopback callback (the default).
    AuthorizationCode,
    /// `--client-credentials`: the client's own id and secret, no user (RFC 6749 section 4.4).
    ClientCredentials,
    /// `--device-code`: the user signs in on any device with a printed code (RFC 8628).
    DeviceCode,
}

impl Grant {
    /// The name stored with the tokens a grant obtained.
    pub fn name(self) -> &'static str {
        match self {
            Grant::AuthorizationCode => "authorization_code",
            Grant::ClientCredentials => "client_credentials",
            Grant::DeviceCode => "device_code",
        }
    }

    pub fn from_name(name: &str) -> Option<Grant> {
        [
            Grant::AuthorizationCode,
            Grant::ClientCredentials,
            Grant::DeviceCode,
        ]
        .into_iter()
        .find(|g| g.name() == name)
    }

    /// The grant in the user's words: how it is chosen on the command line.
    pub fn describe(self) -> &'static str {
        match self {
            Grant::AuthorizationCode => "the browser sign-in",
            Grant::ClientCredentials => "--client-credentials",
            Grant::DeviceCode => "--device-code",
        }
    }
}

/// How much goes to stderr.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Verbosity {
    Silent,
    Normal,
    Debug,
}

/// The validated configuration. It has no `Default`: every value was decided on purpose.
#[derive(Debug)]
pub struct Config {
    pub url: String,
    pub callback_port: u16,
    pub headers: Vec<Header>,
    pub verbosity: Verbosity,
    pub auth_timeout: Duration,
    pub static_client_metadata: Option<Value>,
    pub static_client_info: Option<SecretJson>,
    pub resource: Option<String>,
    pub host: String,
    pub config_dir: Option<PathBuf>,
    pub transport: Transport,
    pub protocol: Protocol,
    pub ignore_tools: Vec<String>,
    pub connect_timeout: Duration,
    /// Extra CA certificates (PEM), added to the OS trust store (or the Mozilla roots).
    pub ca_files: Vec<PathBuf>,
    pub ipv4_only: bool,
    /// `--keep-alive`: the interval of the proxy's own pings on a quiet session.
    pub ping_interval: Option<Duration>,
    /// `--no-proxy`: ignore HTTP(S)_PROXY and friends.
    pub no_proxy: bool,
    /// `--enable-proxy` was given (npm compatibility; proxies are on by default).
    pub enable_proxy_flag: bool,
    pub client_metadata_url: Option<String>,
    /// `--callback-path`: the path of the OAuth redirect URI.
    pub callback_path: String,
    /// `--authorize-param`: extra `key=value`s on the authorization URL only.
    pub authorize_params: Vec<(String, String)>,
    /// `--auth-success-url`: where the browser is sent (303) after a successful sign-in.
    pub auth_success_url: Option<String>,
    /// `--headers-timeout`: how long each request waits for the response headers (None: as
    /// long as the server needs).
    pub headers_timeout: Option<Duration>,
    /// `--body-timeout` as given (npm compatibility; it has no effect, see [`Config::notes`]).
    pub body_timeout: Option<Duration>,
    /// `--disable-cookies`: keep no cookies from the MCP server (see [`crate::cookies`]).
    pub disable_cookies: bool,
    /// `--use-id-token`: send the token response's OpenID Connect ID token as the bearer.
    pub use_id_token: bool,
    pub grant: Grant,
    /// `--token-endpoint`: the token endpoint for `--client-credentials`; no discovery at all.
    pub token_endpoint: Option<String>,
    pub command: Command,
    /// The flag that chose `command` as the user typed it (`--token`, `-c`), for messages; empty
    /// for the proxy.
    pub command_flag: String,
    /// The flag that gave the Authorization header (`--header` or `--header-file`), if any.
    pub authorization_from: Option<&'static str>,
    /// `--json`: one-shot commands print the raw JSON result.
    pub json: bool,
    /// `--timeout`: how long a one-shot command waits for each answer.
    pub timeout: Duration,
}

pub const DEFAULT_AUTH_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a one-shot command waits for an answer (progress notifications restart the wait).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

pub fn parse_args(argv: impl IntoIterator<Item = OsString>) -> Result<Args, Error> {
    parse_from(lexopt::Parser::from_args(argv))
}

fn parse_from(mut p: lexopt::Parser) -> Result<Args, Error> {
    use lexopt::prelude::*;
    let mut args = Args::default();
    while let Some(arg) = p.next().map_err(|e| Error::Usage(e.to_string()))? {
        // The flag as typed, for messages: `--token` is named as such, not as `--login`.
        let typed = match &arg {
            Short(c) => format!("-{c}"),
            Long(name) => format!("--{name}"),
            Value(_) => String::new(),
        };
        match arg {
            Short('h') | Long("help") => {
                args.special = Some(Special::Help);
                return Ok(args);
            }
            Short('V') | Long("version") => {
                args.special = Some(Special::Version);
                return Ok(args);
            }
            Long("header") => args.headers.push(string(&mut p, "--header")?),
            Long("header-file") => args
                .header_files
                .push(PathBuf::from(value(&mut p, "--header-file")?)),
            Long("ca-file") => args
                .ca_files
                .push(PathBuf::from(value(&mut p, "--ca-file")?)),
            Long("connect-timeout") => {
                args.connect_timeout = Some(string(&mut p, "--connect-timeout")?)
            }
            Long("ipv4") => args.ipv4 = true,
            Long("keep-alive") => args.keep_alive = true,
            Long("ping-interval") => args.ping_interval = Some(string(&mut p, "--ping-interval")?),
            Long("enable-proxy") => args.enable_proxy = true,
            Long("no-proxy") => args.no_proxy = true,
            Long("allow-http") => args.allow_http = true,
            Long("debug") => args.debug = true,
            Long("silent") => args.silent = true,
            Long("auth-timeout") => args.auth_timeout = Some(string(&mut p, "--auth-timeout")?),
            Long("static-oauth-client-metadata") => {
                args.static_client_metadata =
                    Some(string(&mut p, "--static-oauth-client-metadata")?)
            }
            Long("static-oauth-client-info") => {
                args.static_client_info = Some(string(&mut p, "--static-oauth-client-info")?)
            }
            Long("resource") => args.resource = Some(string(&mut p, "--resource")?),
            Long("host") => args.host = Some(string(&mut p, "--host")?),
            Long("config-dir") => {
                args.config_dir = Some(PathBuf::from(value(&mut p, "--config-dir")?))
            }
            Long("transport") => args.transport = Some(string(&mut p, "--transport")?),
            Long("protocol") => args.protocol = Some(string(&mut p, "--protocol")?),
            Long("ignore-tool") => args.ignore_tools.push(string(&mut p, "--ignore-tool")?),
            Long("client-metadata-url") => {
                args.client_metadata_url = Some(string(&mut p, "--client-metadata-url")?)
            }
            Long("disable-resource-parameter") => args.disable_resource_parameter = true,
            Long("callback-path") => args.callback_path = Some(string(&mut p, "--callback-path")?),
            Long("authorize-param") => args
                .authorize_params
                .push(string(&mut p, "--authorize-param")?),
            Long("auth-success-url") => {
                args.auth_success_url = Some(string(&mut p, "--auth-success-url")?)
            }
            Long("headers-timeout") => {
                args.headers_timeout = Some(string(&mut p, "--headers-timeout")?)
            }
            Long("body-timeout") => args.body_timeout = Some(string(&mut p, "--body-timeout")?),
            Long("disable-cookies") => args.disable_cookies = true,
            Long("use-id-token") => args.use_id_token = true,
            Long("client-credentials") => args.client_credentials = true,
            Long("token-endpoint") => {
                args.token_endpoint = Some(string(&mut p, "--token-endpoint")?)
            }
            Long("device-code") => args.device_code = true,
            Long("login" | "token") => set_command(&mut args, Command::Login, typed)?,
            Long("logout" | "reset-auth") => set_command(&mut args, Command::Logout, typed)?,
            Long("auth-status" | "test-auth") => {
                set_command(&mut args, Command::AuthStatus, typed)?
            }
            Long("list-tools") => set_command(&mut args, Command::ListTools, typed)?,
            Long("list-resources") => set_command(&mut args, Command::ListResources, typed)?,
            Long("list-prompts") => set_command(&mut args, Command::ListPrompts, typed)?,
            Long("call") => {
                let tool = string(&mut p, &typed)?;
                let c = Command::Call { tool, args: vec![] };
                set_command(&mut args, c, typed)?
            }
            Short('c') | Long("command") => {
                let line = string(&mut p, &typed)?;
                let (tool, rest) = crate::client::split_command(&line)
                    .map_err(|m| Error::Usage(format!("{typed}: {m}")))?;
                set_command(&mut args, Command::Call { tool, args: rest }, typed)?
            }
            Long("read-resource") => {
                let uri = string(&mut p, &typed)?;
                set_command(&mut args, Command::ReadResource(uri), typed)?
            }
            Long("get-prompt") => {
                let name = string(&mut p, &typed)?;
                let c = Command::GetPrompt { name, args: vec![] };
                set_command(&mut args, c, typed)?
            }
            Long("raw") => {
                let json = string(&mut p, &typed)?;
                set_command(&mut args, Command::Raw(json), typed)?
            }
            Long("ping") => set_command(&mut args, Command::Ping, typed)?,
            Long("client-info" | "get-client-info") => {
                set_command(&mut args, Command::ClientInfo, typed)?
            }
            Long("delete-client") => set_command(&mut args, Command::DeleteClient, typed)?,
            Long("update-client") => {
                let fields = string(&mut p, &typed)?;
                set_command(&mut args, Command::UpdateClient(fields), typed)?
            }
            Long("doctor") => set_command(&mut args, Command::Doctor, typed)?,
            Long("server-url") => {
                let url = string(&mut p, "--server-url")?;
                if args.url.replace(url).is_some() {
                    return Err(Error::Usage(
                        "--server-url: the server URL is already given".into(),
                    ));
                }
            }
            Long("json") => args.json = true,
            Long("timeout") => args.timeout = Some(string(&mut p, "--timeout")?),
            Value(v) => {
                let v = v
                    .into_string()
                    .map_err(|_| Error::Usage("arguments must be valid UTF-8".into()))?;
                // After `--call TOOL` / `--get-prompt NAME`, values are that command's arguments
                // (once the server URL is known; before, only what looks like an argument is).
                let takes = args.url.is_some() || crate::client::looks_like_argument(&v);
                if let (true, Command::Call { args: a, .. } | Command::GetPrompt { args: a, .. }) =
                    (takes, &mut args.command)
                {
                    a.push(v);
                } else if args.url.is_none() {
                    args.url = Some(v);
                } else if args.callback_port.is_none() {
                    args.callback_port = Some(v);
                } else {
                    return Err(Error::Usage(format!("unexpected argument {v:?} (the server URL and callback port are already given)")));
                }
            }
            other => return Err(Error::Usage(format!("{}; see --help", other.unexpected()))),
        }
    }
    Ok(args)
}

fn set_command(args: &mut Args, c: Command, flag: String) -> Result<(), Error> {
    if let Some(first) = &args.command_flag {
        if args.command != c {
            return Err(Error::Usage(format!(
                "{first} and {flag} cannot be combined: give one command"
            )));
        }
    }
    args.command = c;
    args.command_flag = Some(flag);
    Ok(())
}

fn value(p: &mut lexopt::Parser, flag: &str) -> Result<OsString, Error> {
    p.value()
        .map_err(|_| Error::Usage(format!("{flag}: missing value")))
}

fn string(p: &mut lexopt::Parser, flag: &str) -> Result<String, Error> {
    value(p, flag)?
        .into_string()
        .map_err(|_| Error::Usage(format!("{flag}: value must be valid UTF-8")))
}

impl Config {
    /// Validates `args`; `env` looks up environment variables (a closure so tests can fake it).
    pub fn from_args(args: Args, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, Error> {
        let usage = |flag: &str, msg: String| Error::Usage(format!("{flag}: {msg}"));
        let url = args.url.ok_or_else(|| {
            Error::Usage(
                "missing the server URL; usage: mcp-remote <server-url> [callback-port] [flags]"
                    .into(),
            )
        })?;
        check_url(&url, args.allow_http).map_err(|m| usage("server URL", m))?;
        let callback_port = match args.callback_port {
            None => 0,
            Some(p) => p.parse::<u16>().map_err(|_| {
                usage(
                    "callback port",
                    format!("{p:?} is not a port number (0-65535)"),
                )
            })?,
        };
        let mut headers = Vec::new();
        let mut authorization_from = None;
        for path in &args.header_files {
            let text = std::fs::read_to_string(path).map_err(|e| {
                usage(
                    "--header-file",
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            for (n, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let h = headers::parse(line, env).map_err(|m| {
                    usage(
                        "--header-file",
                        format!("{} line {}: {m}", path.display(), n + 1),
                    )
                })?;
                authorization_from = authorization_from.or(is_authorization(&h, "--header-file"));
                headers.push(h);
            }
        }
        for h in &args.headers {
            let h = headers::parse(h, env).map_err(|m| usage("--header", m))?;
            authorization_from = authorization_from.or(is_authorization(&h, "--header"));
            headers.push(h);
        }
        let callback_path = match args.callback_path {
            None => crate::oauth::callback::DEFAULT_PATH.to_string(),
            Some(p) => {
                check_callback_path(&p).map_err(|m| usage("--callback-path", m))?;
                p
            }
        };
        let mut authorize_params = Vec::new();
        for kv in &args.authorize_params {
            let pair = authorize_param(kv).map_err(|m| usage("--authorize-param", m))?;
            authorize_params.push(pair);
        }
        let auth_success_url = match args.auth_success_url {
            None => None,
            Some(u) => {
                check_success_url(&u, args.allow_http)
                    .map_err(|m| usage("--auth-success-url", m))?;
                Some(u)
            }
        };
        let headers_timeout = match &args.headers_timeout {
            None => None,
            Some(t) => {
                let d = parse_duration(t).map_err(|m| usage("--headers-timeout", m))?;
                (!d.is_zero()).then_some(d)
            }
        };
        let body_timeout = args
            .body_timeout
            .as_deref()
            .map(parse_duration)
            .transpose()
            .map_err(|m| usage("--body-timeout", m))?;
        let connect_timeout = match &args.connect_timeout {
            None => Duration::from_secs(10),
            Some(t) => match parse_duration(t) {
                Ok(d) if !d.is_zero() => d,
                Ok(_) => return Err(usage("--connect-timeout", "must be more than 0".into())),
                Err(m) => return Err(usage("--connect-timeout", m)),
            },
        };
        let ping_interval = match (&args.ping_interval, args.keep_alive) {
            (Some(t), _) => match parse_duration(t) {
                Ok(d) if d >= Duration::from_secs(1) => Some(d),
                Ok(_) => return Err(usage("--ping-interval", "must be at least 1 second".into())),
                Err(m) => return Err(usage("--ping-interval", m)),
            },
            (None, true) => Some(Duration::from_secs(30)),
            (None, false) => None,
        };
        for f in &args.ca_files {
            if !f.is_file() {
                return Err(usage(
                    "--ca-file",
                    format!("{} is not a readable file", f.display()),
                ));
            }
        }
        if args.no_proxy && args.enable_proxy {
            return Err(Error::Usage(
                "--no-proxy and --enable-proxy cannot be used together".into(),
            ));
        }
        if args.debug && args.silent {
            return Err(Error::Usage(
                "--debug and --silent cannot be used together".into(),
            ));
        }
        let verbosity = if args.debug {
            Verbosity::Debug
        } else if args.silent {
            Verbosity::Silent
        } else {
            Verbosity::Normal
        };
        let auth_timeout = match args.auth_timeout {
            None => DEFAULT_AUTH_TIMEOUT,
            Some(t) => parse_duration(&t).map_err(|m| usage("--auth-timeout", m))?,
        };
        let static_client_metadata = args
            .static_client_metadata
            .map(|s| json_arg(&s, env))
            .transpose()
            .map_err(|m| usage("--static-oauth-client-metadata", m))?;
        let static_client_info = args
            .static_client_info
            .map(|s| json_arg(&s, env))
            .transpose()
            .map_err(|m| usage("--static-oauth-client-info", m))?;
        if let Some(info) = &static_client_info {
            if info
                .get("client_id")
                .and_then(|v| v.as_str())
                .is_none_or(str::is_empty)
            {
                return Err(usage(
                    "--static-oauth-client-info",
                    "needs a \"client_id\" string".into(),
                ));
            }
        }
        if let Some(r) = &args.resource {
            if !(r.is_empty() || r.starts_with("https://") || r.starts_with("http://")) {
                return Err(usage("--resource", format!("{r:?} is not an http(s) URI")));
            }
        }
        if args.disable_resource_parameter
            && args.resource.as_deref().is_some_and(|r| !r.is_empty())
        {
            return Err(Error::Usage(
                "--disable-resource-parameter and --resource cannot be used together".into(),
            ));
        }
        let resource = if args.disable_resource_parameter {
            Some(String::new())
        } else {
            args.resource
        };
        if let Some(u) = &args.client_metadata_url {
            let ok = crate::url::Url::parse(u).is_ok_and(|p| p.scheme == "https" && p.path != "/");
            if !ok {
                return Err(usage(
                    "--client-metadata-url",
                    format!("{u:?} must be an https URL with a path"),
                ));
            }
        }
        let grant = if args.client_credentials {
            let has = |k: &str| {
                static_client_info
                    .as_ref()
                    .and_then(|i| i.get(k))
                    .and_then(Value::as_str)
                    .is_some_and(|v| !v.is_empty())
            };
            if !has("client_id") || !has("client_secret") {
                return Err(usage(
                    "--client-credentials",
                    "needs --static-oauth-client-info with the client's \"client_id\" and \"client_secret\"".into(),
                ));
            }
            if let Some(flag) = authorization_from {
                return Err(Error::Usage(format!(
                    "--client-credentials and an Authorization header ({flag}) cannot be used together"
                )));
            }
            if args.device_code {
                return Err(Error::Usage(
                    "--client-credentials and --device-code cannot be used together".into(),
                ));
            }
            Grant::ClientCredentials
        } else if args.device_code {
            Grant::DeviceCode
        } else {
            Grant::AuthorizationCode
        };
        if let Some(u) = &args.token_endpoint {
            if grant != Grant::ClientCredentials {
                return Err(usage(
                    "--token-endpoint",
                    "only goes with --client-credentials".into(),
                ));
            }
            check_url(u, args.allow_http).map_err(|m| usage("--token-endpoint", m))?;
        }
        let host = args.host.unwrap_or_else(|| "127.0.0.1".into());
        if host.is_empty() || host.contains(['/', ' ', '?', '#']) {
            return Err(usage(
                "--host",
                format!("{host:?} is not a host name or address"),
            ));
        }
        let config_dir = match args.config_dir {
            Some(d) if d.as_os_str().is_empty() => {
                return Err(usage("--config-dir", "is empty".into()))
            }
            Some(d) => Some(d),
            None => env("MCP_REMOTE_CONFIG_DIR")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
                .or_else(|| default_config_dir(env)),
        };
        let transport = match args.transport.as_deref() {
            None | Some("http-first") => Transport::HttpFirst,
            Some("sse-first") => Transport::SseFirst,
            Some("http-only") => Transport::HttpOnly,
            Some("sse-only") => Transport::SseOnly,
            Some(other) => {
                return Err(usage(
                    "--transport",
                    format!("{other:?} is not one of http-first, sse-first, http-only, sse-only"),
                ))
            }
        };
        let protocol = match args.protocol.as_deref() {
            None | Some("auto") => Protocol::Auto,
            Some("legacy") => Protocol::Legacy,
            Some("modern") => Protocol::Modern,
            Some(other) => {
                return Err(usage(
                    "--protocol",
                    format!("{other:?} is not one of auto, legacy, modern"),
                ))
            }
        };
        if protocol == Protocol::Modern
            && matches!(transport, Transport::SseFirst | Transport::SseOnly)
        {
            return Err(usage(
                "--protocol",
                "modern needs Streamable HTTP, but --transport asks for the legacy HTTP+SSE transport first".into(),
            ));
        }
        for pat in &args.ignore_tools {
            if pat.trim().is_empty() {
                return Err(usage("--ignore-tool", "pattern is empty".into()));
            }
        }
        let one_shot = args.command.is_one_shot();
        let json_ok =
            one_shot || matches!(args.command, Command::ClientInfo | Command::UpdateClient(_));
        if args.json && !json_ok {
            return Err(usage(
                "--json",
                "only goes with --list-tools, --list-resources, --list-prompts, --call, --read-resource, --get-prompt, --raw, --ping, --client-info or --update-client".into(),
            ));
        }
        let timeout =
            match &args.timeout {
                None => DEFAULT_TIMEOUT,
                Some(_) if !(one_shot || args.command == Command::Doctor) => return Err(usage(
                    "--timeout",
                    "only goes with a one-shot command such as --list-tools or --call, or --doctor"
                        .into(),
                )),
                Some(t) => match parse_duration(t) {
                    Ok(d) if !d.is_zero() => d,
                    Ok(_) => return Err(usage("--timeout", "must be more than 0".into())),
                    Err(m) => return Err(usage("--timeout", m)),
                },
            };
        let command_flag = args.command_flag.unwrap_or_default();
        let flag = command_flag.as_str();
        match &args.command {
            Command::Raw(text) => {
                crate::client::check_raw(text).map_err(|m| usage(flag, m))?;
            }
            Command::Call { tool, args: a } => {
                crate::client::check_arguments(tool, a).map_err(|m| usage(flag, m))?;
            }
            Command::GetPrompt { name, args: a } => {
                crate::client::check_arguments(name, a)
                    .and_then(|()| crate::client::prompt_arguments(a).map(drop))
                    .map_err(|m| usage(flag, m))?;
            }
            Command::UpdateClient(fields) => {
                crate::client::parse_updates(fields).map_err(|m| usage(flag, m))?;
            }
            Command::ReadResource(uri) if uri.trim().is_empty() => {
                return Err(usage(flag, "the URI is empty".into()));
            }
            _ => {}
        }
        Ok(Config {
            json: args.json,
            timeout,
            url,
            callback_port,
            headers,
            verbosity,
            auth_timeout,
            static_client_metadata,
            static_client_info: static_client_info.map(SecretJson::new),
            resource,
            host,
            config_dir,
            transport,
            protocol,
            ignore_tools: args.ignore_tools,
            connect_timeout,
            ca_files: args.ca_files,
            ipv4_only: args.ipv4,
            ping_interval,
            no_proxy: args.no_proxy,
            enable_proxy_flag: args.enable_proxy,
            client_metadata_url: args.client_metadata_url,
            callback_path,
            authorize_params,
            auth_success_url,
            headers_timeout,
            body_timeout,
            disable_cookies: args.disable_cookies,
            use_id_token: args.use_id_token,
            grant,
            token_endpoint: args.token_endpoint,
            command: args.command,
            command_flag,
            authorization_from,
        })
    }

    /// True when the user supplied `Authorization` themselves: then no OAuth runs.
    pub fn has_authorization_header(&self) -> bool {
        self.authorization_from.is_some()
    }

    /// What `main` logs once logging is set up: flags accepted for compatibility with the npm
    /// package that change nothing here, and settings worth a warning.
    pub fn notes(&self) -> Vec<(log::Level, String)> {
        let mut notes = Vec::new();
        let debug = |m: &str| (log::Level::Debug, m.to_string());
        if self.enable_proxy_flag {
            notes.push(debug("--enable-proxy has no effect: proxies from the environment are always used (--no-proxy turns them off)"));
        }
        if self.body_timeout.is_some() {
            notes.push(debug("--body-timeout has no effect: mcp-remote never cuts a response body or event stream that is quiet, because a tool may work for many minutes and an idle stream is normal (--headers-timeout bounds the wait for an answer to start)"));
        }
        if self.authorize_params.iter().any(|(k, _)| k == "resource") {
            notes.push((log::Level::Warn, "--authorize-param resource=...: sent on the authorization request only; the token requests carry mcp-remote's own resource parameter, which --resource sets".into()));
        }
        notes
    }

    /// Whether `--ignore-tool` hides the tool `name`.
    pub fn ignores_tool(&self, name: &str) -> bool {
        self.ignore_tools.iter().any(|p| glob_match(p, name))
    }
}

/// `https` always; `http` only for loopback hosts unless `--allow-http`.
pub fn check_url(url: &str, allow_http: bool) -> Result<(), String> {
    let uri: ureq::http::Uri = url
        .parse()
        .map_err(|_| format!("{url:?} is not a valid URL"))?;
    let host = uri
        .host()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("{url:?} has no host"))?;
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if allow_http || is_loopback(host) => Ok(()),
        Some("http") => Err(format!(
            "{url:?} uses plain http to a non-loopback host; use https, or pass --allow-http (development only)"
        )),
        _ => Err(format!("{url:?} must start with https:// (or http:// for localhost)")),
    }
}

/// `Some(flag)` when `h` is an Authorization header.
fn is_authorization(h: &Header, flag: &'static str) -> Option<&'static str> {
    h.name.eq_ignore_ascii_case("authorization").then_some(flag)
}

/// A path for the redirect URI: `/` and then RFC 3986 path characters only, without
/// percent-escapes or `.`/`..` segments, because a browser rewrites those before it asks for the
/// path and the callback compares it exactly. The callback server answers nothing but this path
/// (everything else is a 404), so no path collides with anything it serves.
fn check_callback_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!("{path:?} must start with /"));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "/-._~!$&'()*+,;=:@".contains(c);
    if let Some(bad) = path.chars().find(|c| !allowed(*c)) {
        return Err(format!(
            "{path:?} has the character {bad:?}; a path takes letters, digits and -._~!$&'()*+,;=:@/ only"
        ));
    }
    if path.split('/').any(|seg| seg == "." || seg == "..") {
        return Err(format!(
            "{path:?} has a . or .. segment, which a browser would rewrite"
        ));
    }
    Ok(())
}

/// The parameters of the authorization request that sign-in sets and checks itself.
const OWN_AUTHORIZE_PARAMS: &[&str] = &[
    "client_id",
    "redirect_uri",
    "response_type",
    "state",
    "code_challenge",
    "code_challenge_method",
];

/// One `key=value` for the authorization URL.
fn authorize_param(kv: &str) -> Result<(String, String), String> {
    let (k, v) = kv
        .split_once('=')
        .ok_or_else(|| format!("{kv:?} is not key=value"))?;
    if k.is_empty() {
        return Err(format!("{kv:?} has no key"));
    }
    if OWN_AUTHORIZE_PARAMS.contains(&k) {
        return Err(format!("{k} is set by mcp-remote and cannot be overridden"));
    }
    Ok((k.to_string(), v.to_string()))
}

/// Where the browser goes after sign-in: the server URL's rules, and nothing after the path, so
/// nothing of the sign-in can be passed along or mistaken for part of it.
fn check_success_url(url: &str, allow_http: bool) -> Result<(), String> {
    check_url(url, allow_http)?;
    let authority = url.split_once("://").map_or("", |(_, rest)| {
        rest.split(['/', '?', '#']).next().unwrap_or("")
    });
    if authority.contains('@') {
        return Err(format!("{url:?} must not carry credentials"));
    }
    if url.contains(['?', '#']) {
        return Err(format!("{url:?} must not have a query or fragment"));
    }
    Ok(())
}

/// localhost, 127.0.0.0/8 and ::1.
pub fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") || host.to_ascii_lowercase().ends_with(".localhost") {
        return true;
    }
    host.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// A Go-style duration (`30s`, `2m`, `1m30s`, `500ms`, `1.5h`) or plain seconds (`30`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not a duration (examples: 30, 30s, 2m, 1m30s)");
    let t = text.trim();
    if t.is_empty() {
        return Err(bad());
    }
    // Plain seconds have the same ceiling as the other forms (about 31 years), so no
    // deadline built from a duration can overflow.
    if let Ok(secs) = t.parse::<u64>() {
        return if secs > 1_000_000_000 {
            Err(bad())
        } else {
            Ok(Duration::from_secs(secs))
        };
    }
    let mut total = 0f64;
    let mut rest = t;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        if num_end == 0 {
            return Err(bad());
        }
        let n: f64 = rest[..num_end].parse().map_err(|_| bad())?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += n * scale;
        rest = &rest[unit_end..];
    }
    if !total.is_finite() || total > 1e9 {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(total))
}

/// Inline JSON or `@path`; `${VAR}` in inline JSON is replaced from the environment.
fn json_arg(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Value, String> {
    let raw = match text.strip_prefix('@') {
        Some(path) => {
            std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?
        }
        None => headers::interpolate(text, env)?,
    };
    let v: Value = serde_json::from_str(&raw).map_err(|e| format!("not valid JSON: {e}"))?;
    if !v.is_object() {
        return Err("must be a JSON object".into());
    }
    Ok(v)
}

/// The OS configuration directory for mcp-remote's state.
fn default_config_dir(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let nonempty = |k: &str| env(k).filter(|v| !v.is_empty());
    if cfg!(windows) {
        return nonempty("APPDATA").map(|d| PathBuf::from(d).join("mcp-remote"));
    }
    if cfg!(target_os = "macos") {
        return nonempty("HOME")
            .map(|h| PathBuf::from(h).join("Library/Application Support/mcp-remote"));
    }
    nonempty("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| nonempty("HOME").map(|h| PathBuf::from(h).join(".config")))
        .map(|d| d.join("mcp-remote"))
}

/// Whole-name, case-insensitive match where `*` stands for any run of characters.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let n: Vec<char> = name.to_lowercase().chars().collect();
    // Iterative wildcard matching with one backtrack point: linear in practice, no recursion.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if pi < p.len() && p[pi] == n[ni] {
            pi += 1;
            ni += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

pub const HELP: &str = "\
mcp-remote: use a remote MCP server from a stdio-only MCP client

USAGE:
    mcp-remote <server-url> [callback-port] [flags]

    Reads newline-delimited JSON-RPC on stdin, sends each message to the server over
    Streamable HTTP, and writes every server message to stdout as one line. Logs go to
    stderr. Sign-in (OAuth 2.1) starts when the server answers 401.

ARGUMENTS:
    <server-url>      The MCP endpoint, e.g. https://example.com/mcp. https is required,
                      except for localhost / 127.0.0.0/8 / ::1 (or with --allow-http).
                      Also accepted as --server-url <url>.
    [callback-port]   Port for the local OAuth callback server (default: the port of an
                      earlier registration, else one the OS picks).

FLAGS:
    --header \"Name: value\"            Add a header to every request (repeatable).
                                      ${VAR} is replaced from the environment; a missing
                                      variable is an error. Giving Authorization turns
                                      OAuth off. Protocol headers (Mcp-Session-Id,
                                      MCP-Protocol-Version, Accept, Content-Type, Host...)
                                      cannot be set.
    --allow-http                      Allow plain http:// to non-loopback hosts (development).
    --transport <strategy>            http-first (default), sse-first, http-only, sse-only.
    --protocol <era>                  auto (default): per message, bridging a 2025-era client
                                      to a 2026-07-28-only server when needed; legacy: 2025
                                      rules only, never bridge; modern: the server speaks only
                                      2026-07-28, bridge from the first initialize.
    --ignore-tool <pattern>           Hide tools whose name matches (repeatable; * is a
                                      wildcard, whole name, case-insensitive). Calls to them
                                      are answered with an error.
    --debug                           Verbose logs on stderr.
    --silent                          Errors only on stderr.
    --auth-timeout <duration>         How long to wait for the browser (or device) sign-in:
                                      30, 90s, 2m, 1m30s (default 120s).
    --static-oauth-client-metadata <json|@file>
                                      Extra client metadata for dynamic registration.
    --static-oauth-client-info <json|@file>
                                      A pre-registered client: {\"client_id\":...,
                                      \"client_secret\":...}; registration is skipped.
    --resource <uri>                  The resource indicator to request tokens for.
    --host <host>                     Bind address of the OAuth callback (default 127.0.0.1).
    --config-dir <path>               Where tokens and registrations are stored.
    --client-metadata-url <url>       Your client ID metadata document (https), used as the
                                      client_id where the authorization server supports it.
    --disable-resource-parameter      Leave out the RFC 8707 resource parameter (for servers
                                      such as Entra ID that reject it); same as --resource ''.
    --callback-path <path>            The path of the OAuth redirect URI (default /callback).
    --authorize-param <key=value>     Add a parameter to the authorization URL only
                                      (repeatable); client_id, redirect_uri, response_type,
                                      state and code_challenge(_method) cannot be set.
    --auth-success-url <url>          Send the browser there after a successful sign-in
                                      (https, or http to loopback or with --allow-http).
    --use-id-token                    Send the OpenID Connect ID token from the token
                                      response instead of the access token (refreshed by
                                      its exp claim); a sign-in answered without one is an
                                      error (a refresh may leave it out).
    --client-credentials              Sign in as the client itself, with no user and no
                                      browser (OAuth client credentials grant), using the
                                      client_id and client_secret of
                                      --static-oauth-client-info (required). A refused
                                      token is replaced by a new one.
    --token-endpoint <url>            With --client-credentials: the token endpoint to use
                                      (https, or http to loopback or with --allow-http);
                                      no discovery happens. Without it, it is discovered.
    --device-code                     Sign in on any device (OAuth device authorization
                                      grant): a URL and a code are printed on stderr, and
                                      the browser opens at the URL with the code filled in
                                      when the server gives one. No callback port.
                                      Needs an authorization server that offers it.

NETWORK:
    --header-file <path>              Read headers from a file: one \"Name: value\" per line,
                                      # starts a comment (repeatable; ${VAR} works too).
    --ca-file <path>                  Trust the CA certificates in this PEM file too, on top
                                      of the OS trust store, or of the built-in Mozilla
                                      roots where the OS has none (repeatable).
    --connect-timeout <duration>      Give up connecting after this long (default 10s).
    --headers-timeout <duration>      Give up on a request whose response headers take longer
                                      (default and 0: no limit). A body or event stream that
                                      has started is never cut; a plain JSON answer starts
                                      only when the tool is done.
    --body-timeout <duration>         Accepted for compatibility; no effect (a quiet response
                                      body or event stream is never cut).
    --disable-cookies                 Do not keep the MCP server's cookies (kept by default,
                                      in memory, per origin, and sent back, so a load
                                      balancer's stickiness cookie keeps the session).
    --ipv4                            Connect over IPv4 only.
    --keep-alive                      Send a ping when the session has been quiet for
                                      --ping-interval (default 30s); the answers are not
                                      passed to the client.
    --ping-interval <duration>        The keep-alive interval (implies --keep-alive).
    --no-proxy                        Ignore HTTPS_PROXY / HTTP_PROXY / ALL_PROXY.
    --enable-proxy                    Accepted for compatibility: proxies from the
                                      environment are used by default.

    -h, --help                        Print this help.
    -V, --version                     Print the version.

SIGN-IN COMMANDS (run once, then exit):
    --login          Sign in now and store the tokens (also: --token). Use it ahead of time
                     when your client gives a server less time to start than sign-in takes.
    --logout         Remove this server's stored tokens and registration (also: --reset-auth).
    --auth-status    Show what is stored: issuer, client id, grant, scopes, expiry; never a token
                     (also: --test-auth).
    --client-info    Show the stored client registration, secrets redacted (also:
                     --get-client-info; --json for JSON).
    --delete-client  Delete the stored registration at the authorization server (RFC 7592,
                     with its registration access token), then this server's stored state.
    --update-client <key=value,...>
                     Change the stored registration at the authorization server (RFC 7592:
                     read its metadata, PUT it back with these fields changed), then store
                     what it answers. Values are JSON where they look like it ([...], {...},
                     \"...\", numbers, true, false), else text; null removes a field, e.g.
                     --update-client 'client_name=My laptop,contacts=[\"me@example.com\"]'.
    --doctor         Check the way to the server step by step (proxy, DNS, TCP, TLS, HTTP,
                     transport, sign-in metadata, stored tokens) and say what to fix first.
                     Exits 0 when all is well, 1 otherwise. --timeout bounds each answer.

ONE-SHOT COMMANDS (connect, sign in if needed, run one MCP exchange, then exit; every flag
above applies; output on stdout, progress and logs on stderr):
    --list-tools                 List the tools, all pages, as a table (--json: the result).
    --list-resources             List the resources, all pages.
    --list-prompts               List the prompts, all pages.
    --call <tool> [args...]      Call a tool and print the text it returns. Arguments are one
                                 JSON object, or key=value pairs typed by the tool's input
                                 schema (numbers, booleans, arrays and objects as JSON;
                                 strings as is); a lone value goes to the only required
                                 argument. Put the server URL (and callback port) first.
                                 Progress is shown on stderr. A tool error exits 1.
    -c, --command '<tool> <args>'
                                 The same as one string, as the Python client takes it:
                                 -c 'echo message=\"Hello World\" loud=true'.
    --read-resource <uri>        Print a resource (text as is; binary to a file or pipe).
    --get-prompt <name> [key=value...]
                                 Print a prompt's messages.
    --raw <json>                 Send one JSON-RPC message after initializing and print
                                 every message that comes back for it, one per line (for a
                                 notification: what arrives within 1 s). An initialize is
                                 sent as the handshake itself.
    --ping                       Print the round trip of one ping.
    --json                       Print the raw JSON result instead of a table or text.
    --timeout <duration>         How long to wait for each answer (default 60s; progress
                                 restarts the wait; initialize also gets --auth-timeout).

ENVIRONMENT:
    MCP_REMOTE_CONFIG_DIR   Storage root when --config-dir is not given (default:
                            $XDG_CONFIG_HOME/mcp-remote or ~/.config/mcp-remote on Linux,
                            ~/Library/Application Support/mcp-remote on macOS,
                            %AppData%\\mcp-remote on Windows).
    BROWSER                 Program that opens the sign-in page.
    HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY (or lowercase)
                            Proxies for every request (MCP and sign-in); loopback
                            is never proxied.
    NODE_EXTRA_CA_CERTS, SSL_CERT_FILE
                            PEM files of extra CA certificates, added to the OS store
                            (or to the built-in Mozilla roots where the OS has none).
    RUST_LOG                Log filter; overrides --debug and --silent
                            (e.g. RUST_LOG=debug,tiny_http=info; debug is the finest
                            level a release build logs).

EXIT STATUS:
    0 when stdin closes (or a one-shot command succeeded); 1 on a fatal error, a JSON-RPC
    error or a tool error; 2 on a bad command line or bad tool arguments.
";

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("abc".into()),
            "HOME" => Some("/home/u".into()),
            _ => None,
        }
    }

    fn config(argv: &[&str]) -> Result<Config, String> {
        let args = parse_args(argv.iter().map(OsString::from)).map_err(|e| e.to_string())?;
        Config::from_args(args, &env).map_err(|e| e.to_string())
    }

    #[test]
    fn minimal_invocation() {
        let c = config(&["https://example.com/mcp"]).unwrap();
        assert_eq!(c.url, "https://example.com/mcp");
        assert_eq!(c.callback_port, 0);
        assert_eq!(c.transport, Transport::HttpFirst);
        assert_eq!(c.auth_timeout, Duration::from_secs(120));
        assert_eq!(c.host, "127.0.0.1");
        assert_eq!(c.verbosity, Verbosity::Normal);
        assert_eq!(
            c.config_dir,
            Some(PathBuf::from("/home/u/.config/mcp-remote"))
        );
    }

    #[test]
    fn help_and_version_win_over_bad_arguments() {
        let a = parse_args(["--help", "--bogus"].map(OsString::from)).unwrap();
        assert_eq!(a.special, Some(Special::Help));
        let a = parse_args(["-V"].map(OsString::from)).unwrap();
        assert_eq!(a.special, Some(Special::Version));
    }

    #[test]
    fn url_rules() {
        assert!(config(&["http://localhost:3000/mcp"]).is_ok());
        assert!(config(&["http://127.0.0.5/mcp"]).is_ok());
        assert!(config(&["http://[::1]:8080/mcp"]).is_ok());
        assert_eq!(
            config(&["http://example.com/mcp"]).unwrap_err(),
            "server URL: \"http://example.com/mcp\" uses plain http to a non-loopback host; use https, or pass --allow-http (development only)"
        );
        assert!(config(&["http://example.com/mcp", "--allow-http"]).is_ok());
        assert_eq!(
            config(&["ftp://example.com"]).unwrap_err(),
            "server URL: \"ftp://example.com\" must start with https:// (or http:// for localhost)"
        );
        assert_eq!(
            config(&[]).unwrap_err(),
            "missing the server URL; usage: mcp-remote <server-url> [callback-port] [flags]"
        );
    }

    #[test]
    fn callback_port() {
        assert_eq!(
            config(&["https://e.com", "8123"]).unwrap().callback_port,
            8123
        );
        assert_eq!(
            config(&["https://e.com", "99999"]).unwrap_err(),
            "callback port: \"99999\" is not a port number (0-65535)"
        );
        assert_eq!(
            config(&["https://e.com", "1", "2"]).unwrap_err(),
            "unexpected argument \"2\" (the server URL and callback port are already given)"
        );
    }

    #[test]
    fn header_flag_errors_name_the_flag() {
        let c = config(&[
            "https://e.com",
            "--header",
            "Authorization: Bearer ${TOKEN}",
            "--header=X-A:1",
        ])
        .unwrap();
        assert_eq!(c.headers.len(), 2);
        assert_eq!(c.headers[0].value.expose(), "Bearer abc");
        assert!(c.has_authorization_header());
        assert_eq!(
            config(&["https://e.com", "--header", "X: ${MISSING}"]).unwrap_err(),
            "--header: environment variable MISSING is not set"
        );
        assert_eq!(
            config(&["https://e.com", "--header", "Mcp-Session-Id: 1"]).unwrap_err(),
            "--header: header Mcp-Session-Id is set by mcp-remote and cannot be overridden"
        );
        assert_eq!(
            config(&["https://e.com", "--header"]).unwrap_err(),
            "--header: missing value"
        );
    }

    #[test]
    fn unknown_flag() {
        assert_eq!(
            config(&["https://e.com", "--nope"]).unwrap_err(),
            "invalid option '--nope'; see --help"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30").unwrap(), Duration::from_secs(30));
        // Plain seconds have the same ceiling as the other forms: a deadline made from any
        // accepted duration cannot overflow.
        assert!(parse_duration("1000000000").is_ok());
        assert!(parse_duration("1000000001").is_err());
        assert!(parse_duration("18446744073709551615").is_err());
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1.5h").unwrap(), Duration::from_secs(5400));
        for bad in ["", "s", "10x", "-5s", "1m30"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(
            config(&["https://e.com", "--auth-timeout", "soon"]).unwrap_err(),
            "--auth-timeout: \"soon\" is not a duration (examples: 30, 30s, 2m, 1m30s)"
        );
    }

    #[test]
    fn protocol_era() {
        let era = |a: &[&str]| config(a).map(|c| c.protocol);
        assert_eq!(era(&["https://e.com"]), Ok(Protocol::Auto));
        assert_eq!(
            era(&["https://e.com", "--protocol", "legacy"]),
            Ok(Protocol::Legacy)
        );
        assert_eq!(
            era(&[
                "https://e.com",
                "--protocol",
                "modern",
                "--transport",
                "http-only"
            ]),
            Ok(Protocol::Modern)
        );
        assert_eq!(
            era(&["https://e.com", "--protocol", "2026"]).unwrap_err(),
            "--protocol: \"2026\" is not one of auto, legacy, modern"
        );
        assert_eq!(
            era(&["https://e.com", "--protocol", "modern", "--transport", "sse-only"]).unwrap_err(),
            "--protocol: modern needs Streamable HTTP, but --transport asks for the legacy HTTP+SSE transport first"
        );
    }

    #[test]
    fn transport_and_verbosity() {
        assert_eq!(
            config(&["https://e.com", "--transport", "sse-only"])
                .unwrap()
                .transport,
            Transport::SseOnly
        );
        assert_eq!(
            config(&["https://e.com", "--transport", "ws"]).unwrap_err(),
            "--transport: \"ws\" is not one of http-first, sse-first, http-only, sse-only"
        );
        assert_eq!(
            config(&["https://e.com", "--debug"]).unwrap().verbosity,
            Verbosity::Debug
        );
        assert_eq!(
            config(&["https://e.com", "--silent"]).unwrap().verbosity,
            Verbosity::Silent
        );
        assert_eq!(
            config(&["https://e.com", "--silent", "--debug"]).unwrap_err(),
            "--debug and --silent cannot be used together"
        );
    }

    #[test]
    fn static_client_json() {
        let c = config(&[
            "https://e.com",
            "--static-oauth-client-info",
            r#"{"client_id":"abc"}"#,
        ])
        .unwrap();
        assert_eq!(
            c.static_client_info.as_ref().unwrap().value()["client_id"],
            "abc"
        );
        assert!(
            !format!("{c:?}").contains("abc\""),
            "the client info must not be printed"
        );
        assert_eq!(
            config(&[
                "https://e.com",
                "--static-oauth-client-info",
                r#"{"client_secret":"x"}"#
            ])
            .unwrap_err(),
            "--static-oauth-client-info: needs a \"client_id\" string"
        );
        assert!(
            config(&["https://e.com", "--static-oauth-client-metadata", "[1]"])
                .unwrap_err()
                .starts_with("--static-oauth-client-metadata: must be a JSON object")
        );
        assert!(config(&[
            "https://e.com",
            "--static-oauth-client-metadata",
            "@/nonexistent/x.json"
        ])
        .unwrap_err()
        .starts_with("--static-oauth-client-metadata: cannot read /nonexistent/x.json"));
    }

    #[test]
    fn config_dir_precedence() {
        let env2 = |k: &str| match k {
            "MCP_REMOTE_CONFIG_DIR" => Some("/from/env".to_string()),
            _ => env(k),
        };
        let args = parse_args(["https://e.com"].map(OsString::from)).unwrap();
        assert_eq!(
            Config::from_args(args, &env2).unwrap().config_dir,
            Some(PathBuf::from("/from/env"))
        );
        let args =
            parse_args(["https://e.com", "--config-dir", "/flag"].map(OsString::from)).unwrap();
        assert_eq!(
            Config::from_args(args, &env2).unwrap().config_dir,
            Some(PathBuf::from("/flag"))
        );
    }

    #[test]
    fn network_flags() {
        let c = config(&[
            "https://e.com",
            "--connect-timeout",
            "3",
            "--ipv4",
            "--keep-alive",
        ])
        .unwrap();
        assert_eq!(c.connect_timeout, Duration::from_secs(3));
        assert!(c.ipv4_only);
        assert_eq!(c.ping_interval, Some(Duration::from_secs(30)));
        let c = config(&["https://e.com", "--ping-interval", "5s"]).unwrap();
        assert_eq!(c.ping_interval, Some(Duration::from_secs(5)));
        assert_eq!(config(&["https://e.com"]).unwrap().ping_interval, None);
        assert_eq!(
            config(&["https://e.com", "--connect-timeout", "0"]).unwrap_err(),
            "--connect-timeout: must be more than 0"
        );
        assert_eq!(
            config(&["https://e.com", "--ping-interval", "10ms"]).unwrap_err(),
            "--ping-interval: must be at least 1 second"
        );
        assert!(config(&["https://e.com", "--ca-file", "/nonexistent.pem"])
            .unwrap_err()
            .starts_with("--ca-file: /nonexistent.pem is not a readable file"));
        assert_eq!(
            config(&["https://e.com", "--no-proxy", "--enable-proxy"]).unwrap_err(),
            "--no-proxy and --enable-proxy cannot be used together"
        );
    }

    #[test]
    fn header_files() {
        let dir = std::env::temp_dir().join(format!("mcp-remote-hf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("h.txt");
        std::fs::write(
            &f,
            "# comment\n\nX-One: 1\nAuthorization: Bearer ${TOKEN}\n",
        )
        .unwrap();
        let path = f.to_str().unwrap();
        let c = config(&[
            "https://e.com",
            "--header-file",
            path,
            "--header",
            "X-Two: 2",
        ])
        .unwrap();
        let names: Vec<&str> = c.headers.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["X-One", "Authorization", "X-Two"]);
        assert_eq!(c.headers[1].value.expose(), "Bearer abc");
        std::fs::write(&f, "X-One 1\n").unwrap();
        let err = config(&["https://e.com", "--header-file", path]).unwrap_err();
        assert!(
            err.starts_with("--header-file: ") && err.contains("line 1"),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn one_shot_commands() {
        let c = config(&["https://e.com", "--list-tools", "--json"]).unwrap();
        assert_eq!((c.command, c.json), (Command::ListTools, true));
        assert_eq!(c.timeout, DEFAULT_TIMEOUT);
        // Values after --call are arguments once the URL is known; before, only key=value.
        let c = config(&[
            "--call",
            "t",
            "a=1",
            "https://e.com",
            "b",
            "--timeout",
            "5s",
        ])
        .unwrap();
        let call = |tool: &str, args: &[&str]| Command::Call {
            tool: tool.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
        };
        assert_eq!(c.command, call("t", &["a=1", "b"]));
        assert_eq!(c.timeout, Duration::from_secs(5));
        let c = config(&["--server-url", "https://e.com", "8123", "--ping"]).unwrap();
        assert_eq!((c.url.as_str(), c.callback_port), ("https://e.com", 8123));
        for (argv, cmd) in [
            (
                &["-c", "echo m='a b' n=2"][..],
                call("echo", &["m=a b", "n=2"]),
            ),
            (
                &["--get-prompt", "p", "k=v"],
                Command::GetPrompt {
                    name: "p".into(),
                    args: vec!["k=v".into()],
                },
            ),
            (
                &["--read-resource", "file:///a"],
                Command::ReadResource("file:///a".into()),
            ),
            (&["--list-resources"], Command::ListResources),
            (&["--list-prompts"], Command::ListPrompts),
            (&["--ping"], Command::Ping),
            (&["--get-client-info"], Command::ClientInfo),
            (&["--delete-client"], Command::DeleteClient),
            (
                &["--update-client", "client_name=x"],
                Command::UpdateClient("client_name=x".into()),
            ),
            (&["--doctor", "--timeout", "5s"], Command::Doctor),
        ] {
            let mut all = vec!["https://e.com"];
            all.extend_from_slice(argv);
            assert_eq!(config(&all).unwrap().command, cmd, "{argv:?}");
        }
        for (argv, err) in [
            (&["--call", "t", "a=1", "{x"][..], "--call: give one JSON object or key=value pairs, not both"),
            (&["--raw", "{\"id\":1}"], "--raw: each message needs a \"method\" (a request or a notification)"),
            (&["--ping", "--login"], "--ping and --login cannot be combined: give one command"),
            (&["--json"], "--json: only goes with --list-tools, --list-resources, --list-prompts, --call, --read-resource, --get-prompt, --raw, --ping, --client-info or --update-client"),
            (&["--update-client", "client_id=x"], "--update-client: client_id cannot be changed with --update-client"),
            (&["--doctor", "--json"], "--json: only goes with --list-tools, --list-resources, --list-prompts, --call, --read-resource, --get-prompt, --raw, --ping, --client-info or --update-client"),
            (&["--timeout", "1s"], "--timeout: only goes with a one-shot command such as --list-tools or --call, or --doctor"),
            (&["--ping", "--timeout", "0"], "--timeout: must be more than 0"),
            (&["--get-prompt", "p", "bare"], "--get-prompt: \"bare\" is not key=value"),
            (&["--server-url", "https://f.com"], "--server-url: the server URL is already given"),
            (&["-c", " "], "-c: needs a tool name, as in -c 'echo message=hi'"),
        ] {
            let mut all = vec!["https://e.com"];
            all.extend_from_slice(argv);
            assert_eq!(config(&all).unwrap_err(), err, "{argv:?}");
        }
    }

    #[test]
    fn messages_name_the_flag_as_typed() {
        for (argv, err) in [
            (
                &["--token", "--ping"][..],
                "--token and --ping cannot be combined: give one command",
            ),
            (
                &["--ping", "--reset-auth"],
                "--ping and --reset-auth cannot be combined: give one command",
            ),
            (
                &["--test-auth", "--get-client-info"],
                "--test-auth and --get-client-info cannot be combined: give one command",
            ),
            (&["--command"], "--command: missing value"),
            (
                &["--command", " "],
                "--command: needs a tool name, as in -c 'echo message=hi'",
            ),
            (
                &["-c", "t a=1 {\"x\":1}"],
                "-c: give one JSON object or key=value pairs, not both",
            ),
            (
                &["--command", "t a=1 {\"x\":1}"],
                "--command: give one JSON object or key=value pairs, not both",
            ),
        ] {
            let mut all = vec!["https://e.com"];
            all.extend_from_slice(argv);
            assert_eq!(config(&all).unwrap_err(), err, "{argv:?}");
        }
        let c = config(&["https://e.com", "--command", "echo m=1"]).unwrap();
        assert_eq!(c.command_flag, "--command");
        let c = config(&["https://e.com", "--header", "Authorization: Bearer x"]).unwrap();
        assert_eq!(c.authorization_from, Some("--header"));
        assert_eq!(config(&["https://e.com"]).unwrap().authorization_from, None);
    }

    #[test]
    fn npm_sign_in_flags() {
        let c = config(&[
            "https://e.com",
            "--callback-path",
            "/oauth/callback",
            "--authorize-param",
            "prompt=consent",
            "--authorize-param",
            "audience=a=b",
            "--auth-success-url",
            "https://example.com/done",
        ])
        .unwrap();
        assert_eq!(c.callback_path, "/oauth/callback");
        let params =
            [("prompt", "consent"), ("audience", "a=b")].map(|(k, v)| (k.into(), v.into()));
        assert_eq!(c.authorize_params, params);
        assert_eq!(
            c.auth_success_url.as_deref(),
            Some("https://example.com/done")
        );
        assert_eq!(
            config(&["https://e.com"]).unwrap().callback_path,
            "/callback"
        );
        assert!(config(&[
            "https://e.com",
            "--auth-success-url",
            "http://localhost:9/ok"
        ])
        .is_ok());
        assert!(config(&[
            "https://e.com",
            "--auth-success-url",
            "http://e.com/ok",
            "--allow-http"
        ])
        .is_ok());
        for (argv, err) in [
            (&["--callback-path", "callback"][..], "--callback-path: \"callback\" must start with /"),
            (&["--callback-path", "/a?b"], "--callback-path: \"/a?b\" has the character '?'; a path takes letters, digits and -._~!$&'()*+,;=:@/ only"),
            (&["--callback-path", "/x/%2e%2e/cb"], "--callback-path: \"/x/%2e%2e/cb\" has the character '%'; a path takes letters, digits and -._~!$&'()*+,;=:@/ only"),
            (&["--callback-path", "/a/../cb"], "--callback-path: \"/a/../cb\" has a . or .. segment, which a browser would rewrite"),
            (&["--callback-path", "/./cb"], "--callback-path: \"/./cb\" has a . or .. segment, which a browser would rewrite"),
            (&["--authorize-param", "prompt"], "--authorize-param: \"prompt\" is not key=value"),
            (&["--authorize-param", "=x"], "--authorize-param: \"=x\" has no key"),
            (&["--authorize-param", "state=x"], "--authorize-param: state is set by mcp-remote and cannot be overridden"),
            (&["--authorize-param", "code_challenge_method=plain"], "--authorize-param: code_challenge_method is set by mcp-remote and cannot be overridden"),
            (&["--auth-success-url", "http://e.com/ok"], "--auth-success-url: \"http://e.com/ok\" uses plain http to a non-loopback host; use https, or pass --allow-http (development only)"),
            (&["--auth-success-url", "https://e.com/ok?from=mcp"], "--auth-success-url: \"https://e.com/ok?from=mcp\" must not have a query or fragment"),
            (&["--auth-success-url", "https://e.com/ok#top"], "--auth-success-url: \"https://e.com/ok#top\" must not have a query or fragment"),
            (&["--auth-success-url", "https://me:pw@e.com/ok"], "--auth-success-url: \"https://me:pw@e.com/ok\" must not carry credentials"),
        ] {
            let mut all = vec!["https://e.com"];
            all.extend_from_slice(argv);
            assert_eq!(config(&all).unwrap_err(), err, "{argv:?}");
        }
        for k in OWN_AUTHORIZE_PARAMS {
            let kv = format!("{k}=x");
            assert!(
                config(&["https://e.com", "--authorize-param", &kv]).is_err(),
                "{k}"
            );
        }
    }

    #[test]
    fn npm_network_flags() {
        let c = config(&[
            "https://e.com",
            "--headers-timeout",
            "30",
            "--body-timeout",
            "0",
        ])
        .unwrap();
        assert_eq!(c.headers_timeout, Some(Duration::from_secs(30)));
        assert_eq!(c.body_timeout, Some(Duration::ZERO));
        let c = config(&["https://e.com", "--headers-timeout", "0"]).unwrap();
        assert_eq!(c.headers_timeout, None);
        assert_eq!(config(&["https://e.com"]).unwrap().headers_timeout, None);
        assert_eq!(
            config(&["https://e.com", "--headers-timeout", "soon"]).unwrap_err(),
            "--headers-timeout: \"soon\" is not a duration (examples: 30, 30s, 2m, 1m30s)"
        );
        assert_eq!(
            config(&["https://e.com", "--body-timeout", "-1"]).unwrap_err(),
            "--body-timeout: \"-1\" is not a duration (examples: 30, 30s, 2m, 1m30s)"
        );
        assert!(
            config(&["https://e.com", "--disable-cookies"])
                .unwrap()
                .disable_cookies
        );
    }

    #[test]
    fn flags_that_change_nothing_are_noted() {
        let notes = |argv: &[&str]| -> Vec<(log::Level, String)> { config(argv).unwrap().notes() };
        assert!(notes(&["https://e.com"]).is_empty());
        let n = notes(&[
            "https://e.com",
            "--enable-proxy",
            "--body-timeout",
            "0",
            "--authorize-param",
            "resource=https://other",
        ]);
        let starts: Vec<(log::Level, &str)> = n
            .iter()
            .map(|(l, m)| (*l, m.split(' ').next().unwrap_or("")))
            .collect();
        assert_eq!(
            starts,
            [
                (log::Level::Debug, "--enable-proxy"),
                (log::Level::Debug, "--body-timeout"),
                (log::Level::Warn, "--authorize-param"),
            ]
        );
    }

    #[test]
    fn use_id_token() {
        assert!(!config(&["https://e.com"]).unwrap().use_id_token);
        assert!(
            config(&["https://e.com", "--use-id-token"])
                .unwrap()
                .use_id_token
        );
    }

    #[test]
    fn client_credentials_and_token_endpoint() {
        let info = r#"{"client_id":"svc","client_secret":"s"}"#;
        let c = config(&["https://e.com"]).unwrap();
        assert_eq!(
            (c.grant, c.token_endpoint),
            (Grant::AuthorizationCode, None)
        );
        let c = config(&[
            "https://e.com",
            "--client-credentials",
            "--static-oauth-client-info",
            info,
            "--token-endpoint",
            "https://as.example/token",
        ])
        .unwrap();
        assert_eq!(
            (c.grant, c.token_endpoint.as_deref()),
            (Grant::ClientCredentials, Some("https://as.example/token"))
        );
        let needs = "--client-credentials: needs --static-oauth-client-info with the client's \"client_id\" and \"client_secret\"";
        let cases: [(&[&str], &str); 6] = [
            (&["--client-credentials"], needs),
            (
                &[
                    "--client-credentials",
                    "--static-oauth-client-info",
                    r#"{"client_id":"svc"}"#,
                ],
                needs,
            ),
            (
                &["--token-endpoint", "https://as.example/token"],
                "--token-endpoint: only goes with --client-credentials",
            ),
            (
                &[
                    "--client-credentials",
                    "--static-oauth-client-info",
                    info,
                    "--token-endpoint",
                    "http://as.example/token",
                ],
                "--token-endpoint: \"http://as.example/token\" uses plain http to a non-loopback host; use https, or pass --allow-http (development only)",
            ),
            (
                &[
                    "--client-credentials",
                    "--static-oauth-client-info",
                    info,
                    "--token-endpoint",
                ],
                "--token-endpoint: missing value",
            ),
            (
                &[
                    "--client-credentials",
                    "--static-oauth-client-info",
                    info,
                    "--header",
                    "Authorization: Bearer x",
                ],
                "--client-credentials and an Authorization header (--header) cannot be used together",
            ),
        ];
        for (argv, err) in cases {
            let mut all = vec!["https://e.com"];
            all.extend_from_slice(argv);
            assert_eq!(config(&all).unwrap_err(), err, "{argv:?}");
        }
        assert!(config(&[
            "https://e.com",
            "--client-credentials",
            "--static-oauth-client-info",
            info,
            "--token-endpoint",
            "http://127.0.0.1:9/token",
        ])
        .is_ok());
    }

    #[test]
    fn device_code() {
        let c = config(&["https://e.com", "--device-code"]).unwrap();
        assert_eq!(c.grant, Grant::DeviceCode);
        let err = config(&[
            "https://e.com",
            "--device-code",
            "--client-credentials",
            "--static-oauth-client-info",
            r#"{"client_id":"svc","client_secret":"s"}"#,
        ])
        .unwrap_err();
        assert_eq!(
            err,
            "--client-credentials and --device-code cannot be used together"
        );
    }

    #[test]
    fn ignore_tool_globs() {
        assert!(glob_match("delete_*", "DELETE_repo"));
        assert!(glob_match("*", "anything"));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("delete", "delete_repo"));
        assert!(!glob_match("a*b", "acb_"));
        let c = config(&["https://e.com", "--ignore-tool", "rm*"]).unwrap();
        assert!(c.ignores_tool("RMdir") && !c.ignores_tool("ls"));
        assert_eq!(
            config(&["https://e.com", "--ignore-tool", " "]).unwrap_err(),
            "--ignore-tool: pattern is empty"
        );
    }
}
