//! Sign-in end to end: a fake authorization server and a protected MCP server (tiny_http), with
//! `BROWSER` set to a small program that follows the authorization redirect to the callback.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::support::*;

#[derive(Default)]
struct Knobs {
    /// Replace the PRM's `resource` (resource-mismatch test).
    prm_resource: Option<String>,
    /// Serve no protected resource metadata (2025-03-26 server).
    no_prm: bool,
    /// Metadata names this issuer instead of the real one.
    issuer_in_metadata: Option<String>,
    /// `iss` in the redirect: None = the issuer; Some("") = left out.
    iss_in_redirect: Option<String>,
    advertise_iss: bool,
    /// The token endpoint answers with a redirect.
    token_redirects: bool,
    expires_in: u64,
    /// tools/call needs this scope (403 insufficient_scope otherwise).
    call_scope: Option<String>,
    /// The MCP server refuses every token (retry limits).
    refuse_all: bool,
    /// The token endpoint takes this long to answer a refresh.
    refresh_delay_ms: u64,
    /// The token endpoint refuses every authorization code.
    code_refused: bool,
    /// The 401 challenge asks for this scope.
    challenge_scope: Option<String>,
    /// Token responses list the scope granted without openid (servers may leave it out).
    granted_without_openid: bool,
    /// Token responses carry an OpenID Connect `id_token` (a JWT whose `exp` is this many
    /// seconds away), and the MCP server takes only ID tokens, not access tokens.
    id_token_exp_in: Option<u64>,
    /// The authorization server's clock is this many seconds behind (its ID tokens' iat and exp).
    id_token_clock_behind: u64,
    /// Refresh responses leave the ID token out (OpenID Connect allows it).
    refresh_without_id_token: bool,
    /// A confidential client (id, secret) allowed the client_credentials grant.
    cc_client: Option<(String, String)>,
    /// `token_endpoint_auth_methods_supported` (default `["none"]`).
    auth_methods: Option<Vec<String>>,
    /// Offer the device flow (RFC 8628), with a poll interval of 1 s.
    device: bool,
    /// Answer this many device polls with `authorization_pending` before the tokens.
    device_pending: usize,
    /// Answer the first device poll with `slow_down`.
    device_slow_down: bool,
    /// The device authorization response's `interval` and `expires_in` (default 1 and 600).
    device_interval: Option<u64>,
    device_expires_in: Option<u64>,
    /// The device authorization response's `user_code` and `verification_uri`.
    device_user_code: Option<String>,
    device_verification_uri: Option<String>,
    /// The metadata leaves out `authorization_endpoint` (a server without the browser flow).
    no_authorization_endpoint: bool,
}

#[derive(Default)]
struct AsState {
    k: Knobs,
    n: u64,
    clients: Vec<String>,
    codes: HashMap<String, (String, String, Option<String>)>,
    tokens: HashMap<String, Option<String>>,
    refresh: HashMap<String, Option<String>>,
    authorize: Vec<HashMap<String, String>>,
    token_forms: Vec<HashMap<String, String>>,
    registrations: Vec<Value>,
    issued_secrets: Vec<String>,
    /// How each client_credentials request authenticated: "basic" or "post".
    token_auth: Vec<String>,
    /// Device authorization requests, and the device codes issued: code -> scope.
    device_forms: Vec<HashMap<String, String>>,
    device_codes: HashMap<String, Option<String>>,
    /// When each device poll came.
    polls: Vec<Instant>,
}

struct World {
    mcp: Server,
    auth: Server,
    st: Arc<Mutex<AsState>>,
    dir: PathBuf,
    browser: PathBuf,
    opened: PathBuf,
}

fn query(s: &str) -> HashMap<String, String> {
    s.split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_string(), decode(v)))
        .collect()
}

fn decode(s: &str) -> String {
    let b = s.replace('+', " ");
    let b = b.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap(), 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl World {
    fn new(k: Knobs) -> World {
        let st = Arc::new(Mutex::new(AsState {
            k,
            ..AsState::default()
        }));
        let s = Arc::clone(&st);
        let auth = Server::start(move |req, resp| auth_server(&s, req, resp));
        let issuer = auth.url.trim_end_matches("/mcp").to_string();
        let s = Arc::clone(&st);
        let iss = issuer.clone();
        let mcp = Server::start(move |req, resp| mcp_server(&s, &iss, req, resp));
        let dir = temp_dir("oauth");
        let opened = dir.join("opened");
        let browser = dir.join("browser.py");
        std::fs::write(
            &browser,
            format!(
                "#!/usr/bin/env python3\nimport sys, urllib.request, urllib.error\nopen({:?}, 'a').write(sys.argv[1] + '\\n')\ntry:\n    r = urllib.request.urlopen(sys.argv[1], timeout=10)\n    page = '%d %s' % (r.status, r.read().decode('utf-8', 'replace'))\nexcept urllib.error.HTTPError as e:\n    page = '%d %s' % (e.code, e.read().decode('utf-8', 'replace'))\nexcept Exception as e:\n    page = 'error %s' % e\nopen({:?}, 'a').write(page.replace('\\n', ' ') + '\\n')\n",
                opened.display().to_string(),
                dir.join("pages").display().to_string()
            ),
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&browser, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        World {
            mcp,
            auth,
            st,
            dir,
            browser,
            opened,
        }
    }

    fn issuer(&self) -> String {
        self.auth.url.trim_end_matches("/mcp").to_string()
    }

    /// Each page the fake browser ended on: `status body`.
    fn pages(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("pages"))
            .map(|s| s.lines().map(str::to_string).collect())
            .unwrap_or_default()
    }

    /// The first page the fake browser ended on, waited for (bounded).
    fn first_page(&self) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(p) = self.pages().into_iter().next() {
                return p;
            }
            assert!(Instant::now() < deadline, "the browser saw no page");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn opens(&self) -> usize {
        std::fs::read_to_string(&self.opened)
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }

    fn command(&self, extra: &[&str]) -> std::process::Command {
        let mut args = vec![self.mcp.url.as_str(), "--config-dir"];
        let cfg = self.dir.join("config");
        let cfg = cfg.to_str().unwrap().to_string();
        args.push(&cfg);
        args.extend_from_slice(extra);
        let mut c = command(&args);
        c.env("BROWSER", &self.browser);
        c
    }

    fn proxy(&self, extra: &[&str]) -> Proxy {
        Proxy::spawn(self.command(extra))
    }

    /// How many token requests of `grant_type` the authorization server got.
    /// `--login` with `args`, which must succeed; its stderr.
    fn login(&self, args: &[&str]) -> String {
        let out = self
            .command(&[&["--login"], args].concat())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "{err}");
        err
    }

    fn token_requests(&self, grant_type: &str) -> usize {
        let st = self.st.lock().unwrap();
        st.token_forms
            .iter()
            .filter(|f| f["grant_type"] == grant_type)
            .count()
    }

    fn store_dir(&self) -> PathBuf {
        let hash: String = Sha256::digest(self.mcp.url.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        self.dir.join("config").join(&hash[..16])
    }
}

fn auth_server(st: &Mutex<AsState>, req: &Req, resp: &mut Resp) {
    if req.path.starts_with("/token") && is_refresh(req) {
        let d = st.lock().unwrap().k.refresh_delay_ms;
        std::thread::sleep(Duration::from_millis(d));
    }
    let (path, q) = req.path.split_once('?').unwrap_or((&req.path, ""));
    let host = req.header("host").unwrap_or("").to_string();
    let issuer = format!("http://{host}");
    let mut s = st.lock().unwrap();
    match path {
        "/.well-known/oauth-authorization-server" => {
            let named = s.k.issuer_in_metadata.clone().unwrap_or(issuer.clone());
            let mut m = json!({
                "issuer": named,
                "authorization_endpoint": format!("{issuer}/authorize"),
                "token_endpoint": format!("{issuer}/token"),
                "registration_endpoint": format!("{issuer}/register"),
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": s.k.auth_methods.clone().unwrap_or(vec!["none".into()]),
                "scopes_supported": ["mcp:basic", "mcp:write"],
            });
            if s.k.no_authorization_endpoint {
                m.as_object_mut().unwrap().remove("authorization_endpoint");
            }
            if s.k.advertise_iss {
                m["authorization_response_iss_parameter_supported"] = json!(true);
            }
            if s.k.device {
                m["device_authorization_endpoint"] =
                    json!(format!("{issuer}/device_authorization"));
            }
            resp.json(&[], &m);
        }
        "/device_authorization" => {
            let f = query(&String::from_utf8_lossy(&req.body));
            s.device_forms.push(f.clone());
            if !f.get("client_id").is_some_and(|c| s.clients.contains(c)) {
                return refuse(resp, 401, "invalid_client");
            }
            s.n += 1;
            let code = format!("dc-{}-secretvalue", s.n);
            s.device_codes.insert(code.clone(), f.get("scope").cloned());
            s.issued_secrets.push(code.clone());
            resp.json(
                &[],
                &json!({
                    "device_code": code,
                    "user_code": s.k.device_user_code.clone().unwrap_or("WDJB-MJHT".into()),
                    "verification_uri": s.k.device_verification_uri.clone().unwrap_or(format!("{issuer}/device")),
                    "verification_uri_complete": format!("{issuer}/device?user_code=WDJB-MJHT"),
                    "expires_in": s.k.device_expires_in.unwrap_or(600),
                    "interval": s.k.device_interval.unwrap_or(1),
                }),
            );
        }
        "/device" => resp.body(200, "text/plain", &[], b"enter the code"),
        "/register" => {
            s.n += 1;
            let id = format!("client-{}", s.n);
            s.clients.push(id.clone());
            s.registrations.push(req.json());
            resp.body(
                201,
                "application/json",
                &[],
                json!({"client_id": id, "token_endpoint_auth_method": "none"})
                    .to_string()
                    .as_bytes(),
            );
        }
        "/authorize" => {
            let p = query(q);
            s.authorize.push(p.clone());
            if !s.clients.contains(&p["client_id"]) {
                let loc = format!(
                    "{}?error=invalid_client&state={}",
                    p["redirect_uri"],
                    enc(&p["state"])
                );
                return resp.body(302, "text/plain", &[("Location", &loc)], b"");
            }
            s.n += 1;
            let code = format!("code-{}", s.n);
            s.codes.insert(
                code.clone(),
                (
                    p["code_challenge"].clone(),
                    p["client_id"].clone(),
                    p.get("scope").cloned(),
                ),
            );
            let mut loc = format!(
                "{}?code={}&state={}",
                p["redirect_uri"],
                code,
                enc(&p["state"])
            );
            match s.k.iss_in_redirect.as_deref() {
                None => loc.push_str(&format!("&iss={}", enc(&issuer))),
                Some("") => {}
                Some(other) => loc.push_str(&format!("&iss={}", enc(other))),
            }
            resp.body(302, "text/plain", &[("Location", &loc)], b"");
        }
        "/token" => {
            let f = query(&String::from_utf8_lossy(&req.body));
            s.token_forms.push(f.clone());
            if s.k.code_refused
                && f.get("grant_type").map(String::as_str) == Some("authorization_code")
            {
                return resp.body(
                    400,
                    "application/json",
                    &[],
                    br#"{"error":"invalid_grant","error_description":"code refused"}"#,
                );
            }
            if s.k.token_redirects {
                return resp.body(
                    307,
                    "text/plain",
                    &[("Location", "http://127.0.0.1:9/steal")],
                    b"",
                );
            }
            let mut with_refresh = true;
            let scope = match f.get("grant_type").map(String::as_str) {
                Some("authorization_code") => {
                    let Some((challenge, client, scope)) = s.codes.remove(&f["code"]) else {
                        return resp.body(
                            400,
                            "application/json",
                            &[],
                            br#"{"error":"invalid_grant"}"#,
                        );
                    };
                    let got = URL_SAFE_NO_PAD.encode(Sha256::digest(f["code_verifier"].as_bytes()));
                    if got != challenge || f.get("client_id") != Some(&client) {
                        return resp.body(
                            400,
                            "application/json",
                            &[],
                            br#"{"error":"invalid_grant","error_description":"pkce"}"#,
                        );
                    }
                    scope
                }
                Some("refresh_token") => match s.refresh.remove(&f["refresh_token"]) {
                    Some(scope) => scope,
                    None => {
                        return resp.body(
                            400,
                            "application/json",
                            &[],
                            br#"{"error":"invalid_grant"}"#,
                        )
                    }
                },
                Some("urn:ietf:params:oauth:grant-type:device_code") => {
                    s.polls.push(Instant::now());
                    let answer = if !s.device_codes.contains_key(&f["device_code"]) {
                        "invalid_grant"
                    } else if s.k.device_slow_down && s.polls.len() == 1 {
                        "slow_down"
                    } else if s.polls.len() <= s.k.device_pending {
                        "authorization_pending"
                    } else {
                        ""
                    };
                    if !answer.is_empty() {
                        return refuse(resp, 400, answer);
                    }
                    s.device_codes.remove(&f["device_code"]).flatten()
                }
                Some("client_credentials") => {
                    // The client authenticates with HTTP Basic or in the form.
                    let basic = req
                        .header("authorization")
                        .and_then(|a| a.strip_prefix("Basic "))
                        .and_then(|b| STANDARD.decode(b).ok())
                        .and_then(|b| String::from_utf8(b).ok())
                        .and_then(|p| p.split_once(':').map(|(i, s)| (decode(i), decode(s))));
                    let (how, given) = match basic {
                        Some(pair) => ("basic", Some(pair)),
                        None => (
                            "post",
                            f.get("client_id")
                                .cloned()
                                .zip(f.get("client_secret").cloned()),
                        ),
                    };
                    s.token_auth.push(how.to_string());
                    if given.is_none() || given != s.k.cc_client {
                        return refuse(resp, 401, "invalid_client");
                    }
                    // RFC 6749 section 4.4.3: no refresh token.
                    with_refresh = false;
                    f.get("scope").cloned()
                }
                _ => {
                    return resp.body(
                        400,
                        "application/json",
                        &[],
                        br#"{"error":"unsupported_grant_type"}"#,
                    )
                }
            };
            s.n += 1;
            let (at, rt) = (
                format!("at-{}-secretvalue", s.n),
                format!("rt-{}-secretvalue", s.n),
            );
            s.refresh.insert(rt.clone(), scope.clone());
            s.issued_secrets.push(at.clone());
            s.issued_secrets.push(rt.clone());
            let mut body = json!({"access_token": at, "token_type": "Bearer", "refresh_token": rt, "expires_in": s.k.expires_in.max(1)});
            if !with_refresh {
                body.as_object_mut().unwrap().remove("refresh_token");
            }
            // ID tokens only for the openid scope, as OpenID Connect servers do.
            let openid = scope
                .as_deref()
                .is_some_and(|sc| sc.split(' ').any(|x| x == "openid"))
                && !(s.k.refresh_without_id_token && f["grant_type"] == "refresh_token");
            match s.k.id_token_exp_in.filter(|_| openid) {
                Some(exp_in) => {
                    let iat = now() - s.k.id_token_clock_behind;
                    let id =
                        jwt(&json!({"sub": "user-1", "jti": s.n, "iat": iat, "exp": iat + exp_in}));
                    s.tokens.insert(id.clone(), scope.clone());
                    s.issued_secrets.push(id.clone());
                    body["id_token"] = json!(id);
                }
                None => {
                    s.tokens.insert(at.clone(), scope.clone());
                }
            }
            if let Some(sc) = scope {
                body["scope"] = json!(if s.k.granted_without_openid {
                    sc.split(' ')
                        .filter(|x| *x != "openid")
                        .collect::<Vec<_>>()
                        .join(" ")
                } else {
                    sc
                });
            }
            resp.json(&[("Cache-Control", "no-store")], &body);
        }
        _ => resp.status(404, "not found"),
    }
}

/// An OAuth error answer (RFC 6749 section 5.2).
fn refuse(resp: &mut Resp, status: u16, error: &str) {
    let body = json!({ "error": error }).to_string();
    resp.body(status, "application/json", &[], body.as_bytes());
}

/// Seconds since the Unix epoch.
fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An unsigned JWT (`alg: none`) with these claims.
fn jwt(claims: &Value) -> String {
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

fn mcp_server(st: &Mutex<AsState>, issuer: &str, req: &Req, resp: &mut Resp) {
    let host = req.header("host").unwrap_or("").to_string();
    let me = format!("http://{host}");
    let s = st.lock().unwrap();
    if req.path == "/.well-known/oauth-protected-resource/mcp"
        || req.path == "/.well-known/oauth-protected-resource"
    {
        if s.k.no_prm {
            return resp.status(404, "no");
        }
        let resource = s.k.prm_resource.clone().unwrap_or(format!("{me}/mcp"));
        return resp.json(
            &[],
            &json!({"resource": resource, "authorization_servers": [issuer]}),
        );
    }
    if s.k.no_prm && req.path == "/.well-known/oauth-authorization-server" {
        // 2025-03-26: the MCP server's origin is the authorization server.
        drop(s);
        return auth_server_at(st, &me, issuer, req, resp);
    }
    let token = req
        .header("authorization")
        .and_then(|a| a.strip_prefix("Bearer "))
        .map(str::to_string);
    let scope = token.as_ref().and_then(|t| s.tokens.get(t).cloned());
    if s.k.refuse_all || scope.is_none() {
        let mut chal = format!("Bearer error=\"invalid_token\", resource_metadata=\"{me}/.well-known/oauth-protected-resource/mcp\"");
        if let Some(sc) = &s.k.challenge_scope {
            chal.push_str(&format!(", scope=\"{sc}\""));
        }
        return resp.body(
            401,
            "text/plain",
            &[("WWW-Authenticate", &chal)],
            b"unauthorized",
        );
    }
    let scope = scope.flatten().unwrap_or_default();
    match (req.method.as_str(), req.rpc_method().as_str()) {
        ("GET", _) => resp.status(405, ""),
        ("DELETE", _) => resp.status(200, ""),
        ("POST", "initialize") => {
            resp.json(&[("Mcp-Session-Id", "s1")], &init_result(&req.rpc_id()))
        }
        ("POST", "tools/call") => {
            if let Some(need) = &s.k.call_scope {
                if !scope.split(' ').any(|x| x == need) {
                    let chal = format!("Bearer error=\"insufficient_scope\", scope=\"mcp:basic {need}\", resource_metadata=\"{me}/.well-known/oauth-protected-resource/mcp\"");
                    return resp.body(
                        403,
                        "text/plain",
                        &[("WWW-Authenticate", &chal)],
                        b"forbidden",
                    );
                }
            }
            resp.json(&[], &json!({"jsonrpc":"2.0","id":req.rpc_id(),"result":{"content":[{"type":"text","text":"ok"}]}}))
        }
        ("POST", "tools/list") => resp.json(
            &[],
            &json!({"jsonrpc":"2.0","id":req.rpc_id(),"result":{"tools":[]}}),
        ),
        ("POST", _) => resp.accepted(),
        _ => resp.status(400, "?"),
    }
}

/// For the 2025-03-26 case the MCP origin serves the metadata, pointing at the real endpoints.
fn auth_server_at(_st: &Mutex<AsState>, me: &str, issuer: &str, _req: &Req, resp: &mut Resp) {
    resp.json(
        &[],
        &json!({
            "issuer": me,
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"),
            "registration_endpoint": format!("{issuer}/register"),
            "code_challenge_methods_supported": ["S256"],
        }),
    );
}

fn knobs() -> Knobs {
    Knobs {
        expires_in: 3600,
        ..Knobs::default()
    }
}

/// Initialize through the proxy and return the response.
fn init(p: &mut Proxy) -> Value {
    p.send(&initialize(0));
    p.recv_response(&json!(0))
}

/// The error message of an answer, or "" for a result.
fn message(r: &Value) -> String {
    r["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn call(p: &mut Proxy, id: u64) -> Value {
    p.send(&json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":"t","arguments":{}}}).to_string());
    p.recv_response(&json!(id))
}

fn assert_no_secrets(w: &World, text: &str) {
    for s in &w.st.lock().unwrap().issued_secrets {
        assert!(
            !text.contains(s.as_str()),
            "a secret leaked into output: {s}"
        );
    }
}

#[test]
fn first_sign_in_then_reuse_without_a_browser() {
    let w = World::new(knobs());
    let mut p = w.proxy(&["--debug"]);
    let r = init(&mut p);
    assert!(r.get("result").is_some(), "{r}; stderr:\n{}", p.stderr());
    assert_eq!(call(&mut p, 1)["result"]["content"][0]["text"], "ok");
    p.close();
    assert_eq!(w.opens(), 1);
    let err1 = p.stderr();
    assert!(err1.contains("sign in to"), "{err1}");
    let st = w.st.lock().unwrap();
    let a = &st.authorize[0];
    assert_eq!(a["code_challenge_method"], "S256");
    assert_eq!(a["resource"], w.mcp.url);
    assert!(a["redirect_uri"].starts_with("http://127.0.0.1:"));
    assert_eq!(st.token_forms[0]["resource"], w.mcp.url);
    assert_eq!(st.registrations[0]["application_type"], "native");
    drop(st);
    // Files: private, versioned.
    let tokens = std::fs::read_to_string(w.store_dir().join("tokens.json")).unwrap();
    assert!(tokens.contains("\"version\": 1"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in ["tokens.json", "client.json", "metadata.json"] {
            assert_eq!(
                std::fs::metadata(w.store_dir().join(f))
                    .unwrap()
                    .permissions()
                    .mode()
                    & 0o777,
                0o600,
                "{f}"
            );
        }
        assert_eq!(
            std::fs::metadata(w.store_dir())
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o700
        );
    }
    // A second run uses the stored token: no browser.
    let mut p = w.proxy(&["--debug"]);
    assert!(init(&mut p).get("result").is_some());
    p.close();
    assert_eq!(w.opens(), 1);
    assert_no_secrets(&w, &(err1 + &p.stderr()));
}

#[test]
fn proactive_refresh_saves_the_rotated_token() {
    let w = World::new(Knobs {
        expires_in: 2,
        ..knobs()
    });
    let mut p = w.proxy(&[]);
    assert!(init(&mut p).get("result").is_some());
    // The token expires within a minute, and half its lifetime has passed: the next request
    // refreshes first.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(call(&mut p, 1).get("result").is_some());
    p.close();
    let st = w.st.lock().unwrap();
    let refreshes: Vec<_> = st
        .token_forms
        .iter()
        .filter(|f| f["grant_type"] == "refresh_token")
        .collect();
    assert!(!refreshes.is_empty(), "no refresh happened");
    assert_eq!(refreshes[0]["resource"], w.mcp.url);
    let saved = std::fs::read_to_string(w.store_dir().join("tokens.json")).unwrap();
    let v: Value = serde_json::from_str(&saved).unwrap();
    // The stored refresh token is the newest one the server issued (rotation saved).
    assert!(st
        .refresh
        .contains_key(v["refresh_token"].as_str().unwrap()));
    assert_eq!(w.opens(), 1);
}

#[test]
fn revoked_access_token_is_refreshed_reactively() {
    let w = World::new(knobs());
    let mut p = w.proxy(&[]);
    assert!(init(&mut p).get("result").is_some());
    w.st.lock().unwrap().tokens.clear();
    assert!(call(&mut p, 1).get("result").is_some());
    p.close();
    assert_eq!(w.opens(), 1);
    assert!(w
        .st
        .lock()
        .unwrap()
        .token_forms
        .iter()
        .any(|f| f["grant_type"] == "refresh_token"));
}

#[test]
fn revoked_refresh_token_means_the_browser_again() {
    let w = World::new(knobs());
    let mut p = w.proxy(&[]);
    assert!(init(&mut p).get("result").is_some());
    {
        let mut st = w.st.lock().unwrap();
        st.tokens.clear();
        st.refresh.clear();
    }
    assert!(call(&mut p, 1).get("result").is_some());
    p.close();
    assert_eq!(w.opens(), 2);
}

#[test]
fn several_instances_open_one_browser_tab() {
    let w = World::new(knobs());
    let mut ps: Vec<Proxy> = (0..3).map(|_| w.proxy(&[])).collect();
    for p in ps.iter_mut() {
        p.send(&initialize(0));
    }
    for p in ps.iter_mut() {
        let r = p.recv_response(&json!(0));
        assert!(r.get("result").is_some(), "{r}: {}", p.stderr());
    }
    for p in ps.iter_mut() {
        p.close();
    }
    assert_eq!(w.opens(), 1);
}

#[test]
fn token_endpoint_redirect_is_refused() {
    let w = World::new(Knobs {
        token_redirects: true,
        ..knobs()
    });
    let mut p = w.proxy(&[]);
    let r = init(&mut p);
    assert!(message(&r).contains("redirect"), "{r}");
    p.close();
}

#[test]
fn resource_mismatch_is_refused_before_any_authorization() {
    let w = World::new(Knobs {
        prm_resource: Some("https://evil.example.com/mcp".into()),
        ..knobs()
    });
    let mut p = w.proxy(&[]);
    let r = init(&mut p);
    assert!(message(&r).contains("refusing"), "{r}");
    p.close();
    assert!(w.st.lock().unwrap().authorize.is_empty());
    assert_eq!(w.opens(), 0);
}

#[test]
fn metadata_for_another_issuer_is_refused() {
    let w = World::new(Knobs {
        issuer_in_metadata: Some("https://other.example.com".into()),
        ..knobs()
    });
    let mut p = w.proxy(&[]);
    let r = init(&mut p);
    assert!(message(&r).contains("issuer"), "{r}");
    p.close();
    assert_eq!(w.opens(), 0);
}

#[test]
fn wrong_or_missing_iss_is_refused() {
    let w = World::new(Knobs {
        iss_in_redirect: Some("https://evil.example.com".into()),
        ..knobs()
    });
    let mut p = w.proxy(&[]);
    assert!(message(&init(&mut p)).contains("issuer"));
    p.close();
    assert!(
        w.st.lock().unwrap().token_forms.is_empty(),
        "the code was redeemed"
    );
    let w = World::new(Knobs {
        iss_in_redirect: Some(String::new()),
        advertise_iss: true,
        ..knobs()
    });
    let mut p = w.proxy(&[]);
    assert!(message(&init(&mut p)).contains("iss"));
    p.close();
    assert!(w.st.lock().unwrap().token_forms.is_empty());
}

#[test]
fn step_up_on_insufficient_scope() {
    let w = World::new(Knobs {
        call_scope: Some("mcp:write".into()),
        ..knobs()
    });
    let mut p = w.proxy(&[]);
    assert!(init(&mut p).get("result").is_some());
    let r = call(&mut p, 1);
    assert!(r.get("result").is_some(), "{r}\n{}", p.stderr());
    p.close();
    let st = w.st.lock().unwrap();
    let last = st.authorize.last().unwrap();
    let scopes: Vec<&str> = last["scope"].split(' ').collect();
    assert!(
        scopes.contains(&"mcp:write") && scopes.contains(&"mcp:basic"),
        "{scopes:?}"
    );
}

#[test]
fn stale_registration_heals_itself() {
    let w = World::new(knobs());
    let mut p = w.proxy(&[]);
    assert!(init(&mut p).get("result").is_some());
    p.close();
    {
        let mut st = w.st.lock().unwrap();
        st.clients.clear();
        st.tokens.clear();
        st.refresh.clear();
    }
    std::fs::remove_file(w.store_dir().join("tokens.json")).unwrap();
    let mut p = w.proxy(&[]);
    let r = init(&mut p);
    assert!(r.get("result").is_some(), "{r}\n{}", p.stderr());
    p.close();
    assert_eq!(w.st.lock().unwrap().registrations.len(), 2);
}

#[test]
fn servers_without_resource_metadata_use_the_2025_03_26_rules() {
    // Servers of that era send no `iss` on the redirect.
    let w = World::new(Knobs {
        no_prm: true,
        iss_in_redirect: Some(String::new()),
        ..knobs()
    });
    let mut p = w.proxy(&[]);
    let r = init(&mut p);
    assert!(r.get("result").is_some(), "{r}\n{}", p.stderr());
    p.close();
    assert_eq!(w.opens(), 1);
}

#[test]
fn authorization_header_turns_oauth_off() {
    let w = World::new(knobs());
    let mut p = w.proxy(&["--header", "Authorization: Bearer mine"]);
    let r = init(&mut p);
    assert!(message(&r).contains("401"), "{r}");
    p.close();
    assert_eq!(w.opens(), 0);
    assert!(!w.store_dir().exists());
}

#[test]
fn stdin_eof_during_the_wait_frees_the_port_and_exits() {
    let w = World::new(knobs());
    // A browser that never follows the link.
    let mut cmd = w.command(&["--debug"]);
    cmd.env("BROWSER", "true");
    close_while_waiting(Proxy::spawn(cmd), "sign in to");
}

/// Sends `initialize`, waits for `prompt` on stderr, then closes stdin: the proxy must exit at
/// once, with success.
fn close_while_waiting(mut p: Proxy, prompt: &str) {
    p.send(&initialize(0));
    let t = Instant::now();
    while !p.stderr().contains(prompt) {
        assert!(t.elapsed() < WAIT, "{}", p.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    let (st, took) = p.close();
    assert!(st.success() && took < Duration::from_secs(2), "{took:?}");
}

#[test]
fn auth_timeout_answers_with_an_error() {
    let w = World::new(knobs());
    let mut cmd = w.command(&["--auth-timeout", "1s"]);
    cmd.env("BROWSER", "true");
    let mut p = Proxy::spawn(cmd);
    let r = init(&mut p);
    assert!(message(&r).contains("timed out"), "{r}");
    p.close();
}

#[test]
fn login_status_logout() {
    let w = World::new(knobs());
    let out = w
        .command(&["--login"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    assert_eq!(w.opens(), 1);
    let out = w
        .command(&["--auth-status"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && text.contains(&w.issuer()), "{text}");
    assert_no_secrets(&w, &text);
    let out = w
        .command(&["--logout"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!w.store_dir().exists());
}

fn is_refresh(req: &Req) -> bool {
    String::from_utf8_lossy(&req.body).contains("grant_type=refresh_token")
}

#[test]
fn a_cancel_during_a_token_refresh_does_not_lose_the_tokens() {
    let w = World::new(Knobs {
        refresh_delay_ms: 1500,
        ..knobs()
    });
    let mut p = w.proxy(&[]);
    assert!(init(&mut p).get("result").is_some());
    // The server forgets the access token: the next call gets 401 and the proxy refreshes.
    w.st.lock().unwrap().tokens.clear();
    p.send(
        &json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":{}}})
            .to_string(),
    );
    w.auth.wait_for("the refresh", |r| {
        r.path.starts_with("/token") && is_refresh(r)
    });
    p.send(r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}"#);
    // The refresh serves every request: it completes, and the next call uses its token.
    let r = call(&mut p, 2);
    assert!(r.get("result").is_some(), "{r}\n{}", p.stderr());
    assert!(w.store_dir().join("tokens.json").exists());
    assert_eq!(w.opens(), 1, "the browser opened again");
}

#[test]
fn callback_path_authorize_params_and_success_url() {
    let w = World::new(Knobs {
        challenge_scope: Some("mcp:write".into()),
        ..knobs()
    });
    let done = format!("{}/signed-in", w.issuer());
    let mut p = w.proxy(&[
        "--callback-path",
        "/oauth/callback",
        "--authorize-param",
        "prompt=consent",
        "--authorize-param",
        "audience=api://x y",
        "--authorize-param",
        "scope=mcp:basic",
        "--auth-success-url",
        &done,
    ]);
    let r = init(&mut p);
    assert!(r.get("result").is_some(), "{r}; stderr:\n{}", p.stderr());
    p.close();
    // The browser was sent on to the success URL once the code was exchanged.
    w.auth
        .wait_for("the success URL", |r| r.path == "/signed-in");
    let log = w.auth.requests();
    let at = |path: &str| log.iter().position(|r| r.path.starts_with(path));
    let (token, back) = (at("/token").unwrap(), at("/signed-in").unwrap());
    assert!(token < back, "{:?}", w.auth.summary());
    // The user's scope replaces the one mcp-remote works out: each parameter appears once.
    let authorize = log
        .iter()
        .find(|r| r.path.starts_with("/authorize"))
        .map(|r| r.path.clone())
        .unwrap_or_default();
    assert_eq!(authorize.matches("scope=").count(), 1, "{authorize}");
    {
        let st = w.st.lock().unwrap();
        let a = &st.authorize[0];
        let redirect = a["redirect_uri"].clone();
        assert!(redirect.ends_with("/oauth/callback"), "{redirect}");
        assert_eq!(
            (
                a["prompt"].as_str(),
                a["audience"].as_str(),
                a["scope"].as_str()
            ),
            ("consent", "api://x y", "mcp:basic")
        );
        assert_eq!(st.registrations[0]["redirect_uris"], json!([redirect]));
        assert_eq!(st.token_forms[0]["redirect_uri"], redirect);
        assert!(
            !st.token_forms[0].contains_key("prompt"),
            "--authorize-param reached the token request"
        );
    }
    // Another path is another redirect URI: the stored registration is not reused for it.
    std::fs::remove_file(w.store_dir().join("tokens.json")).unwrap();
    let mut p = w.proxy(&["--callback-path", "/cb2"]);
    let r = init(&mut p);
    assert!(r.get("result").is_some(), "{r}; stderr:\n{}", p.stderr());
    p.close();
    let st = w.st.lock().unwrap();
    assert_eq!(st.registrations.len(), 2);
    assert!(st.authorize[1]["redirect_uri"].ends_with("/cb2"));
    assert_eq!(st.authorize[1]["client_id"], st.clients[1]);
}

#[test]
fn a_failed_code_exchange_shows_the_browser_a_failure_page() {
    let w = World::new(Knobs {
        code_refused: true,
        ..knobs()
    });
    let done = format!("{}/signed-in", w.issuer());
    let mut p = w.proxy(&["--auth-success-url", &done]);
    let r = init(&mut p);
    let msg = r["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("invalid_grant"), "{r}");
    p.close();
    let page = &w.first_page();
    assert!(
        page.starts_with("502 ") && page.contains("could not complete the sign-in"),
        "{page}"
    );
    assert_eq!(w.auth.count(|r| r.path == "/signed-in"), 0);
}

#[test]
fn tokens_that_cannot_be_saved_are_not_announced_to_the_browser() {
    let w = World::new(knobs());
    // A directory where the token file goes: the save after the exchange fails.
    std::fs::create_dir_all(w.store_dir().join("tokens.json")).unwrap();
    let mut p = w.proxy(&[]);
    let r = init(&mut p);
    assert!(r.get("error").is_some(), "{r}");
    p.close();
    let page = &w.first_page();
    assert!(page.starts_with("502 "), "{page}");
}

#[test]
fn use_id_token_sends_the_id_token_and_refreshes_by_its_exp() {
    // The access token lives an hour, the ID token 2 s: only the ID token's exp makes the
    // proxy refresh before the next call (once half its lifetime has passed).
    let w = World::new(Knobs {
        id_token_exp_in: Some(2),
        ..knobs()
    });
    let mut p = w.proxy(&["--use-id-token", "--debug"]);
    let r = init(&mut p);
    assert!(r.get("result").is_some(), "{r}; stderr:\n{}", p.stderr());
    std::thread::sleep(Duration::from_millis(1500));
    assert!(call(&mut p, 1).get("result").is_some());
    p.close();
    assert!(w.token_requests("refresh_token") >= 1, "{}", p.stderr());
    // The server only ever saw ID tokens.
    let bearers: Vec<String> = w
        .mcp
        .requests()
        .iter()
        .filter_map(|r| r.header("authorization").map(str::to_string))
        .collect();
    assert!(!bearers.is_empty());
    assert!(
        bearers.iter().all(|b| b.starts_with("Bearer eyJ")),
        "{bearers:?}"
    );
    // Stored with the other tokens; a second run reuses it without a browser.
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(w.store_dir().join("tokens.json")).unwrap())
            .unwrap();
    assert!(saved["id_token"].as_str().unwrap().starts_with("eyJ"));
    let mut p2 = w.proxy(&["--use-id-token"]);
    assert!(init(&mut p2).get("result").is_some());
    p2.close();
    assert_eq!(w.opens(), 1);
    assert_no_secrets(&w, &(p.stderr() + &p2.stderr()));
}

#[test]
fn use_id_token_without_an_id_token_is_a_clear_error() {
    let w = World::new(knobs());
    init_fails_storing_nothing(
        &w,
        &["--use-id-token"],
        "without an id_token, which --use-id-token sends (it was asked for the openid scope, so the authorization server may not issue ID tokens to this client; or leave --use-id-token out)",
    );
    // A scope of the user's own replaces the one asked for: the hint says so.
    init_fails_storing_nothing(
        &w,
        &["--use-id-token", "--authorize-param", "scope=mcp:basic"],
        "your --authorize-param scope, which replaces the one asked for, lacks openid: add it",
    );
}

#[test]
fn use_id_token_asks_for_openid_with_every_grant() {
    let w = World::new(Knobs {
        id_token_exp_in: Some(3600),
        device: true,
        challenge_scope: Some("mcp:basic".into()),
        ..cc_knobs()
    });
    init_ok(&w, &["--use-id-token"]);
    init_ok(&w, &["--use-id-token", "--device-code"]);
    let cc = cc_args(&w, "--use-id-token");
    init_ok(&w, &cc.iter().map(String::as_str).collect::<Vec<_>>());
    let st = w.st.lock().unwrap();
    let scope = |f: &HashMap<String, String>| f.get("scope").cloned().unwrap_or_default();
    assert_eq!(scope(&st.authorize[0]), "mcp:basic openid");
    assert_eq!(scope(&st.device_forms[0]), "mcp:basic openid");
    let cc = st
        .token_forms
        .iter()
        .find(|f| f["grant_type"] == "client_credentials")
        .unwrap();
    assert_eq!(scope(cc), "mcp:basic openid");
}

#[test]
fn a_client_credentials_renewal_asks_for_openid_again() {
    // The granted scope comes back without openid; the ID token lives 2 s, so after half of
    // that a request renews it ahead of expiry.
    let w = World::new(Knobs {
        id_token_exp_in: Some(2),
        granted_without_openid: true,
        challenge_scope: Some("mcp:basic".into()),
        ..cc_knobs()
    });
    let cc = cc_args(&w, "--use-id-token");
    let mut p = w.proxy(&cc.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(init(&mut p).get("result").is_some(), "{}", p.stderr());
    std::thread::sleep(Duration::from_millis(1200));
    assert!(call(&mut p, 1).get("result").is_some(), "{}", p.stderr());
    p.close();
    let st = w.st.lock().unwrap();
    let scopes: Vec<String> = st
        .token_forms
        .iter()
        .filter(|f| f["grant_type"] == "client_credentials")
        .map(|f| f.get("scope").cloned().unwrap_or_default())
        .collect();
    assert_eq!(
        scopes,
        ["mcp:basic openid", "mcp:basic openid"],
        "{}",
        p.stderr()
    );
}

/// `initialize` through a proxy with `args` succeeds; returns the proxy's stderr.
fn init_ok(w: &World, args: &[&str]) -> String {
    let mut p = w.proxy(args);
    let r = init(&mut p);
    assert!(r.get("result").is_some(), "{r}; stderr:\n{}", p.stderr());
    p.close();
    p.stderr()
}

/// `initialize` through a proxy with `args` gets an error saying `why`, and no tokens are stored.
fn init_fails_storing_nothing(w: &World, args: &[&str], why: &str) {
    let mut p = w.proxy(args);
    let r = init(&mut p);
    assert!(message(&r).contains(why), "{r}");
    p.close();
    assert!(!w.store_dir().join("tokens.json").exists());
}

/// The values of `keys` in a form ("" when absent).
fn fields<'a>(form: &'a HashMap<String, String>, keys: &[&str]) -> Vec<&'a str> {
    keys.iter()
        .map(|k| form.get(*k).map_or("", String::as_str))
        .collect()
}

fn cc_knobs() -> Knobs {
    Knobs {
        cc_client: Some(("svc-1".into(), "cc-secret-value".into())),
        ..knobs()
    }
}

/// The client credentials grant at the world's token endpoint, with the right secret, and
/// `extra`.
fn cc_args(w: &World, extra: &str) -> Vec<String> {
    let token_endpoint = format!("{}/token", w.issuer());
    [
        extra,
        "--client-credentials",
        "--token-endpoint",
        &token_endpoint,
        "--static-oauth-client-info",
        &cc_info("cc-secret-value"),
    ]
    .map(str::to_string)
    .to_vec()
}

/// `--static-oauth-client-info` for the client credentials grant.
fn cc_info(secret: &str) -> String {
    json!({"client_id": "svc-1", "client_secret": secret}).to_string()
}

#[test]
fn client_credentials_with_a_token_endpoint_skips_discovery() {
    let w = World::new(cc_knobs());
    w.st.lock()
        .unwrap()
        .issued_secrets
        .push("cc-secret-value".into());
    let token_endpoint = format!("{}/token", w.issuer());
    let args = |info: &str| -> Vec<String> {
        [
            "--client-credentials",
            "--token-endpoint",
            &token_endpoint,
            "--static-oauth-client-info",
            info,
            "--debug",
        ]
        .map(str::to_string)
        .to_vec()
    };
    // A wrong secret: a clear error, nothing stored.
    let wrong = args(&cc_info("wrong"));
    init_fails_storing_nothing(
        &w,
        &wrong.iter().map(String::as_str).collect::<Vec<_>>(),
        "refused the client credentials: invalid_client",
    );
    let right = args(&cc_info("cc-secret-value"));
    let mut p = w.proxy(&right.iter().map(String::as_str).collect::<Vec<_>>());
    let r = init(&mut p);
    assert!(r.get("result").is_some(), "{r}; stderr:\n{}", p.stderr());
    // The server forgets the token: a 401, and a new one is fetched (there is no refresh token).
    w.st.lock().unwrap().tokens.clear();
    assert!(call(&mut p, 1).get("result").is_some(), "{}", p.stderr());
    p.close();
    {
        let st = w.st.lock().unwrap();
        let grants: Vec<&str> = st
            .token_forms
            .iter()
            .map(|f| f["grant_type"].as_str())
            .collect();
        assert_eq!(grants, ["client_credentials"; 3]);
        assert_eq!(st.token_auth, ["basic"; 3]);
        assert_eq!(st.token_forms[1]["resource"], w.mcp.url);
        assert!(!st.token_forms[1].contains_key("client_secret"));
        assert!(st.registrations.is_empty() && st.authorize.is_empty());
    }
    // No discovery at all, and no browser.
    let metadata = |s: &Server| s.count(|r| r.path.starts_with("/.well-known/"));
    assert_eq!(metadata(&w.mcp) + metadata(&w.auth), 0);
    assert_eq!(w.opens(), 0);
    assert!(w.store_dir().join("tokens.json").exists());
    assert_no_secrets(&w, &p.stderr());
}

#[test]
fn client_credentials_discovers_the_token_endpoint_and_its_auth_method() {
    let w = World::new(Knobs {
        auth_methods: Some(vec!["client_secret_post".into()]),
        challenge_scope: Some("mcp:basic".into()),
        expires_in: 30,
        ..cc_knobs()
    });
    let info = cc_info("cc-secret-value");
    let mut p = w.proxy(&["--client-credentials", "--static-oauth-client-info", &info]);
    let r = init(&mut p);
    assert!(r.get("result").is_some(), "{r}; stderr:\n{}", p.stderr());
    // The token expires within a minute, but it was obtained moments ago: the retried
    // initialize and the call use it (a new one before every request would be no better).
    assert!(call(&mut p, 1).get("result").is_some());
    p.close();
    let st = w.st.lock().unwrap();
    assert_eq!(st.token_auth, ["post"]);
    assert_eq!(
        fields(&st.token_forms[0], &["grant_type", "scope", "resource"]),
        ["client_credentials", "mcp:basic", &w.mcp.url]
    );
    assert!(st.registrations.is_empty() && st.authorize.is_empty());
    assert_eq!(w.opens(), 0);
}

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

#[test]
fn device_code_polls_until_the_user_approves() {
    let w = World::new(Knobs {
        device: true,
        device_pending: 2,
        challenge_scope: Some("mcp:basic".into()),
        ..knobs()
    });
    let err = init_ok(&w, &["--device-code"]);
    let prompt = format!(
        "mcp-remote: sign in to {}: visit {}/device and enter the code WDJB-MJHT",
        w.mcp.url.trim_end_matches("/mcp"),
        w.issuer()
    );
    assert!(err.contains(&prompt), "{err}");
    // The browser was sent to the complete verification URI; no authorization request.
    let opened = std::fs::read_to_string(&w.opened).unwrap();
    assert_eq!(
        opened.trim(),
        format!("{}/device?user_code=WDJB-MJHT", w.issuer())
    );
    let st = w.st.lock().unwrap();
    assert!(st.authorize.is_empty());
    assert_eq!(
        st.registrations[0]["grant_types"],
        json!([DEVICE_GRANT, "refresh_token"])
    );
    assert!(st.registrations[0].get("redirect_uris").is_none());
    assert_eq!(
        fields(&st.device_forms[0], &["client_id", "scope", "resource"]),
        ["client-1", "mcp:basic", &w.mcp.url]
    );
    // Two "authorization_pending" answers, then the tokens.
    let polls: Vec<_> = st
        .token_forms
        .iter()
        .filter(|f| f["grant_type"] == DEVICE_GRANT)
        .collect();
    assert_eq!(polls.len(), 3);
    assert_eq!(polls[2]["resource"], w.mcp.url);
    assert!(w.store_dir().join("tokens.json").exists());
    drop(st);
    assert_no_secrets(&w, &err);
}

#[test]
fn device_code_slows_down_when_asked() {
    let w = World::new(Knobs {
        device: true,
        device_slow_down: true,
        ..knobs()
    });
    init_ok(&w, &["--device-code"]);
    let st = w.st.lock().unwrap();
    assert_eq!(st.polls.len(), 2);
    // The interval was 1 s; slow_down adds 5 s.
    let gap = st.polls[1] - st.polls[0];
    assert!(gap >= Duration::from_millis(5900), "{gap:?}");
}

#[test]
fn device_code_needs_a_device_authorization_endpoint() {
    let w = World::new(knobs());
    init_fails_storing_nothing(
        &w,
        &["--device-code"],
        "its metadata has no device_authorization_endpoint",
    );
    assert!(w.st.lock().unwrap().registrations.is_empty());
    assert_eq!(w.opens(), 0);
}

#[test]
fn device_code_wait_ends_at_the_auth_timeout_and_when_stdin_closes() {
    let w = World::new(Knobs {
        device: true,
        device_pending: usize::MAX,
        ..knobs()
    });
    device_sign_in_times_out(&w);
    close_while_waiting(w.proxy(&["--device-code"]), "enter the code");
}

/// A device sign-in with --auth-timeout 2s fails with the timeout error, soon, storing nothing.
fn device_sign_in_times_out(w: &World) {
    let t = Instant::now();
    init_fails_storing_nothing(
        w,
        &["--device-code", "--auth-timeout", "2s"],
        "timed out waiting for the device sign-in (see --auth-timeout)",
    );
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
}

#[test]
fn device_code_survives_huge_interval_and_expires_in() {
    // A code that claims to live forever: the flow polls as usual and succeeds.
    let w = World::new(Knobs {
        device: true,
        device_pending: 1,
        device_expires_in: Some(u64::MAX),
        ..knobs()
    });
    init_ok(&w, &["--device-code"]);
    assert_eq!(w.st.lock().unwrap().polls.len(), 2);
    // An interval of 584 billion years, with a code that lives as long: the wait ends at
    // --auth-timeout with the usual error instead of a crash.
    let w = World::new(Knobs {
        device: true,
        device_interval: Some(u64::MAX),
        device_expires_in: Some(u64::MAX),
        ..knobs()
    });
    device_sign_in_times_out(&w);
}

#[test]
fn metadata_without_an_authorization_endpoint_serves_the_other_grants() {
    let w = World::new(Knobs {
        device: true,
        no_authorization_endpoint: true,
        ..cc_knobs()
    });
    init_ok(&w, &["--device-code"]);
    std::fs::remove_file(w.store_dir().join("tokens.json")).unwrap();
    let info = cc_info("cc-secret-value");
    init_ok(
        &w,
        &["--client-credentials", "--static-oauth-client-info", &info],
    );
    // The browser flow needs it. (The one page opened was the device flow's.)
    std::fs::remove_file(w.store_dir().join("tokens.json")).unwrap();
    init_fails_storing_nothing(
        &w,
        &[],
        "authorization server metadata has no authorization_endpoint",
    );
    assert_eq!(w.opens(), 1);
}

#[test]
fn device_prompt_shows_no_control_characters_and_only_web_addresses() {
    // A user code that would clear the screen and forge a line of its own.
    let w = World::new(Knobs {
        device: true,
        device_user_code: Some("WDJB\u{1b}[2J-MJHT\nmcp-remote: signed in\u{7}".into()),
        ..knobs()
    });
    let err = init_ok(&w, &["--device-code"]);
    assert!(
        err.contains("enter the code WDJB[2J-MJHT mcp-remote: signed in\n"),
        "{err}"
    );
    assert!(!err.contains(['\u{1b}', '\u{7}']), "{err:?}");
    // Plain http to another host is not shown or opened: no sign-in.
    let w = World::new(Knobs {
        device: true,
        device_verification_uri: Some("http://as.example/device\u{1b}[2J".into()),
        ..knobs()
    });
    init_fails_storing_nothing(
        &w,
        &["--device-code"],
        "names \"http://as.example/device[2J\" to visit, which is not an https URL",
    );
    assert!(w.st.lock().unwrap().polls.is_empty());
}

#[test]
fn stored_tokens_serve_only_the_grant_and_client_that_obtained_them() {
    let w = World::new(cc_knobs());
    let login = |args: &[&str]| w.login(args);
    let client_credentials = || w.token_requests("client_credentials");
    // A person signs in with the browser...
    login(&[]);
    assert_eq!(w.opens(), 1);
    // ... and a service with its client credentials gets a token of its own.
    let info = cc_info("cc-secret-value");
    let err = login(&["--client-credentials", "--static-oauth-client-info", &info]);
    assert!(
        err.contains("the stored tokens come from the browser sign-in, not --client-credentials"),
        "{err}"
    );
    assert_eq!(client_credentials(), 1);
    // Nor the other way round: the browser opens again.
    let err = login(&[]);
    assert!(
        err.contains("the stored tokens come from --client-credentials, not the browser sign-in"),
        "{err}"
    );
    assert_eq!((w.opens(), client_credentials()), (2, 1));
    // The registered client's tokens are not taken for those of a static client.
    w.st.lock().unwrap().clients.push("static-1".into());
    let err = login(&["--static-oauth-client-info", r#"{"client_id":"static-1"}"#]);
    assert!(err.contains("were issued to client client-"), "{err}");
    assert_eq!(w.opens(), 3);
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(w.store_dir().join("tokens.json")).unwrap())
            .unwrap();
    assert_eq!(
        (&saved["grant"], &saved["client_id"]),
        (&json!("authorization_code"), &json!("static-1"))
    );
}

/// The stored tokens.
fn saved(w: &World) -> Value {
    serde_json::from_str(&std::fs::read_to_string(w.store_dir().join("tokens.json")).unwrap())
        .unwrap()
}

#[test]
fn a_refresh_without_an_id_token_keeps_the_rotated_refresh_token() {
    let w = World::new(Knobs {
        id_token_exp_in: Some(30),
        refresh_without_id_token: true,
        ..knobs()
    });
    w.login(&["--use-id-token"]);
    let id = saved(&w)["id_token"].clone();
    // The stored ID token expires within a minute: the first request refreshes, the answer has
    // no ID token, and the current one, still valid, goes on being sent.
    let err = init_ok(&w, &["--use-id-token"]);
    assert!(
        err.contains("the current ID token is used until it expires"),
        "{err}"
    );
    let first = saved(&w);
    assert_eq!(first["id_token"], id);
    let live = |v: &Value| {
        w.st.lock()
            .unwrap()
            .refresh
            .contains_key(v["refresh_token"].as_str().unwrap_or_default())
    };
    assert!(live(&first), "the rotated refresh token was not saved");
    assert_eq!(w.opens(), 1);
    // Once the ID token has expired, such a refresh saves the new refresh token and then
    // signs in anew (here a sign-in nobody completes).
    let stderr = with_id_token_expiring_at(&w, &first, now() - 10);
    assert!(
        stderr.contains("the new refresh token is saved"),
        "{stderr}"
    );
    let after = saved(&w);
    assert!(live(&after) && after["refresh_token"] != first["refresh_token"]);
    assert!(after.get("id_token").is_none(), "{after}");
}

#[test]
fn a_short_lived_or_skewed_id_token_is_not_renewed_on_every_request() {
    // An ID token that lives 30 s, so less than the minute ahead of expiry at which renewal
    // starts; and one that lives 5 minutes from a server whose clock is 10 minutes behind, so
    // it reads as expired on arrival.
    for (exp_in, behind) in [(30, 0), (300, 600)] {
        let w = World::new(Knobs {
            id_token_exp_in: Some(exp_in),
            id_token_clock_behind: behind,
            ..knobs()
        });
        let mut p = w.proxy(&["--use-id-token"]);
        let r = init(&mut p);
        assert!(r.get("result").is_some(), "{r}; stderr:\n{}", p.stderr());
        for id in 1..=5 {
            assert!(call(&mut p, id).get("result").is_some());
        }
        p.close();
        let refreshes = w.token_requests("refresh_token");
        assert_eq!(refreshes, 0, "exp in {exp_in} s, {behind} s behind");
    }
}

#[test]
fn client_credentials_renewal_keeps_the_challenged_scope_and_what_discovery_found() {
    let w = World::new(Knobs {
        challenge_scope: Some("mcp:basic".into()),
        expires_in: 2,
        ..cc_knobs()
    });
    let info = cc_info("cc-secret-value");
    let mut p = w.proxy(&["--client-credentials", "--static-oauth-client-info", &info]);
    let r = init(&mut p);
    assert!(r.get("result").is_some(), "{r}; stderr:\n{}", p.stderr());
    let metadata = || w.mcp.count(|r| r.path.starts_with("/.well-known/"));
    let before = (
        metadata(),
        w.auth.count(|r| r.path.starts_with("/.well-known/")),
    );
    // Half the token's lifetime later it is renewed ahead of expiry, for the same scope and
    // resource, without discovering again.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(call(&mut p, 1).get("result").is_some());
    p.close();
    let after = (
        metadata(),
        w.auth.count(|r| r.path.starts_with("/.well-known/")),
    );
    assert_eq!(before, after);
    let st = w.st.lock().unwrap();
    assert_eq!(st.token_forms.len(), 2);
    for f in &st.token_forms {
        assert_eq!(
            fields(f, &["grant_type", "scope", "resource"]),
            ["client_credentials", "mcp:basic", &w.mcp.url]
        );
    }
}

/// Stores `tokens` with an ID token the server never issued, expiring at `exp`, and runs a
/// `--use-id-token` proxy whose sign-in nobody completes; returns its stderr.
fn with_id_token_expiring_at(w: &World, tokens: &Value, exp: u64) -> String {
    let mut t = tokens.clone();
    t["id_token"] = json!(jwt(&json!({"sub": "user-1", "exp": exp})));
    std::fs::write(w.store_dir().join("tokens.json"), t.to_string()).unwrap();
    let mut cmd = w.command(&["--use-id-token", "--auth-timeout", "1s"]);
    cmd.env("BROWSER", "true");
    let mut p = Proxy::spawn(cmd);
    let r = init(&mut p);
    assert!(message(&r).contains("timed out"), "{r}");
    p.close();
    p.stderr()
}

#[test]
fn an_id_token_the_server_refuses_is_not_sent_again_after_a_refresh_without_one() {
    let w = World::new(Knobs {
        id_token_exp_in: Some(3600),
        refresh_without_id_token: true,
        ..knobs()
    });
    w.login(&["--use-id-token"]);
    // An ID token good for an hour by its exp, which the server nevertheless refuses.
    let stored = saved(&w);
    let stderr = with_id_token_expiring_at(&w, &stored, now() + 3600);
    assert!(stderr.contains("was refused or has expired"), "{stderr}");
    // The refresh token the refresh rotated to is kept, and the refused ID token is gone.
    let after = saved(&w);
    let live =
        w.st.lock()
            .unwrap()
            .refresh
            .contains_key(after["refresh_token"].as_str().unwrap_or_default());
    assert!(
        live && after["refresh_token"] != stored["refresh_token"],
        "{after}"
    );
    assert!(after.get("id_token").is_none(), "{after}");
}

#[test]
fn a_renewal_ahead_of_expiry_takes_tokens_another_instance_just_renewed() {
    // Tokens living 70 s: renewal starts a minute before expiry, so about 10 s from now.
    let w = World::new(Knobs {
        expires_in: 70,
        ..knobs()
    });
    w.login(&[]);
    let mut a = w.proxy(&[]);
    assert!(init(&mut a).get("result").is_some(), "{}", a.stderr());
    std::thread::sleep(Duration::from_secs(11));
    // Another instance sharing the store renews first; the refresh token rotates.
    let mut b = w.proxy(&[]);
    assert!(init(&mut b).get("result").is_some(), "{}", b.stderr());
    b.close();
    assert_eq!(w.token_requests("refresh_token"), 1);
    // This one, now due too, takes those tokens instead of spending its stale refresh token.
    assert!(call(&mut a, 1).get("result").is_some(), "{}", a.stderr());
    a.close();
    assert_eq!(w.token_requests("refresh_token"), 1, "{}", a.stderr());
    assert!(
        a.stderr()
            .contains("using tokens another mcp-remote just obtained"),
        "{}",
        a.stderr()
    );
}
