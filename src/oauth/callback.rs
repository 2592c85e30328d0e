//! The browser side of sign-in: opening the authorization page (never through a shell, only
//! http and https URLs) and the loopback tiny_http server that receives the redirect. The server
//! accepts only the expected path (`--callback-path`) and `state`; anything else gets an error
//! page and is ignored. The browser's request is answered once the code exchange is over: with
//! our own page, or a 303 to `--auth-success-url`.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::url;

/// The redirect path when `--callback-path` is not given.
pub const DEFAULT_PATH: &str = "/callback";

/// The loopback server waiting for the authorization response.
pub struct Callback {
    server: tiny_http::Server,
    host: String,
    port: u16,
    path: String,
    success_url: Option<String>,
}

/// The browser's request for the callback, answered when the sign-in is over. Dropped
/// unanswered, it gets a failure page.
#[derive(Debug)]
pub struct Pending {
    rq: Option<tiny_http::Request>,
    success_url: Option<String>,
}

impl Pending {
    /// The code exchange succeeded: our page, or a 303 to `--auth-success-url`.
    pub fn succeeded(mut self) {
        let Some(rq) = self.rq.take() else { return };
        match &self.success_url {
            Some(u) => {
                let mut resp = tiny_http::Response::empty(303);
                add_headers(&mut resp, &[("Location", u)]);
                let _ = rq.respond(resp);
            }
            None => respond(
                rq,
                200,
                "Signed in",
                "mcp-remote is signed in. You can close this tab and return to your MCP client.",
            ),
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(rq) = self.rq.take() {
            respond(rq, 502, "Sign-in failed", "mcp-remote could not complete the sign-in; its log says why. You can close this tab.");
        }
    }
}

/// What the authorization server sent back.
#[derive(Debug, PartialEq)]
pub struct Redirect {
    pub code: String,
    pub iss: Option<String>,
}

impl Callback {
    /// Binds `host:port` (port 0: the OS picks) to receive the redirect to `path`; after a
    /// successful sign-in the browser is sent on to `success_url`, if given.
    pub fn bind(
        host: &str,
        port: u16,
        path: &str,
        success_url: Option<&str>,
    ) -> Result<Callback, String> {
        let addr = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let server = tiny_http::Server::http(&addr)
            .map_err(|e| format!("cannot listen on {addr} for the sign-in callback: {e}"))?;
        let port = server
            .server_addr()
            .to_ip()
            .map(|a| a.port())
            .ok_or("the callback server has no IP address")?;
        Ok(Callback {
            server,
            host: host.to_string(),
            port,
            path: path.to_string(),
            success_url: success_url.map(str::to_string),
        })
    }

    #[cfg(test)]
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn redirect_uri(&self) -> String {
        let host = if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("http://{host}:{}{}", self.port, self.path)
    }

    /// Waits for the redirect that carries `state`, until `deadline` or until `stop()` is true.
    /// The browser's request is left for the caller to answer when the sign-in is over.
    pub fn wait(
        &self,
        state: &str,
        deadline: Instant,
        stop: &dyn Fn() -> bool,
    ) -> Result<(Redirect, Pending), String> {
        loop {
            if stop() {
                return Err("stopped waiting for the browser (stdin closed)".into());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(
                    "timed out waiting for the browser sign-in (see --auth-timeout)".into(),
                );
            }
            let rq = match self
                .server
                .recv_timeout((deadline - now).min(Duration::from_millis(200)))
            {
                Ok(Some(rq)) => rq,
                Ok(None) => continue,
                Err(e) => return Err(format!("the callback server failed: {e}")),
            };
            let target = rq.url().to_string();
            let (path, query) = target.split_once('?').unwrap_or((&target, ""));
            if path != self.path {
                respond(
                    rq,
                    404,
                    "Not the sign-in callback",
                    "This address only receives the sign-in redirect for mcp-remote.",
                );
                continue;
            }
            let q = url::parse_query(query);
            let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            if get("state").as_deref() != Some(state) {
                log::warn!("ignored a sign-in callback whose state does not match this sign-in");
                respond(rq, 400, "Sign-in link not recognized", "This sign-in response does not belong to the sign-in in progress, so it was ignored. Close this tab.");
                continue;
            }
            if let Some(err) = get("error") {
                let desc = get("error_description")
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default();
                let text = crate::http::one_line(&format!("{err}{desc}"), 300);
                respond(rq, 400, "Sign-in failed", &format!("The authorization server refused the sign-in ({text}). You can close this tab."));
                return Err(format!(
                    "the authorization server refused the sign-in: {text}"
                ));
            }
            let Some(code) = get("code").filter(|c| !c.is_empty()) else {
                respond(
                    rq,
                    400,
                    "Sign-in failed",
                    "The response carried no authorization code. You can close this tab.",
                );
                return Err("the sign-in response carried no authorization code".into());
            };
            let pending = Pending {
                rq: Some(rq),
                success_url: self.success_url.clone(),
            };
            let redirect = Redirect {
                code,
                iss: get("iss"),
            };
            return Ok((redirect, pending));
        }
    }
}

fn respond(rq: tiny_http::Request, status: u16, title: &str, text: &str) {
    let page = format!(
        "<!doctype html><meta charset=utf-8><title>{title}</title><body style=\"font-family:sans-serif;margin:3em\"><h1>{title}</h1><p>{text}</p>",
        title = html(title),
        text = html(text)
    );
    let mut resp = tiny_http::Response::from_string(page).with_status_code(status);
    add_headers(&mut resp, &[("Content-Type", "text/html; charset=utf-8")]);
    let _ = rq.respond(resp);
}

/// `extra`, then the headers every answer to the browser carries: nothing of the sign-in is
/// cached, nor passed on as a referrer.
fn add_headers<R: std::io::Read>(resp: &mut tiny_http::Response<R>, extra: &[(&str, &str)]) {
    let always = [
        ("Cache-Control", "no-store"),
        ("Referrer-Policy", "no-referrer"),
    ];
    for (k, v) in extra.iter().chain(&always) {
        if let Ok(h) = tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()) {
            resp.add_header(h);
        }
    }
}

fn html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Opens `url` in the user's browser: `BROWSER` if set (a program and its arguments, split on
/// spaces), else the platform's opener. Never through a shell; only http(s) URLs.
pub fn open_browser(target: &str, browser: Option<&str>) -> Result<Child, String> {
    let u = url::Url::parse(target)
        .map_err(|_| format!("refusing to open {target:?}: not an http(s) URL"))?;
    let target = u.to_string();
    let mut cmd = match browser.map(str::trim).filter(|b| !b.is_empty()) {
        Some(b) => {
            let mut parts = b.split_whitespace();
            let mut c = Command::new(parts.next().unwrap_or(b));
            c.args(parts);
            c
        }
        None if cfg!(target_os = "macos") => Command::new("open"),
        None if cfg!(windows) => {
            let mut c = Command::new("rundll32");
            c.arg("url.dll,FileProtocolHandler");
            c
        }
        None => Command::new("xdg-open"),
    };
    cmd.arg(&target)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the browser ({e}); open the URL above by hand"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::sync::mpsc;

    /// The status and page of a GET; for a redirect, its Location instead of the page.
    fn get(port: u16, path: &str) -> (u16, String) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        let r = agent
            .get(&format!("http://127.0.0.1:{port}{path}"))
            .call()
            .unwrap();
        let status = r.status().as_u16();
        if let Some(loc) = r.headers().get("location") {
            return (status, loc.to_str().unwrap().to_string());
        }
        let mut body = String::new();
        r.into_body()
            .into_reader()
            .read_to_string(&mut body)
            .unwrap();
        (status, body)
    }

    #[test]
    fn accepts_only_the_right_path_and_state() {
        let cb = Callback::bind("127.0.0.1", 0, DEFAULT_PATH, None).unwrap();
        let port = cb.port();
        assert_eq!(
            cb.redirect_uri(),
            format!("http://127.0.0.1:{port}/callback")
        );
        let (tx, rx) = mpsc::channel();
        let h = std::thread::spawn(move || {
            tx.send(get(port, "/favicon.ico")).unwrap();
            tx.send(get(port, "/callback?code=evil&state=forged"))
                .unwrap();
            tx.send(get(
                port,
                "/callback?code=good%2B1&state=s1&iss=https%3A%2F%2Fa",
            ))
            .unwrap();
        });
        let (r, pending) = cb
            .wait("s1", Instant::now() + Duration::from_secs(10), &|| false)
            .unwrap();
        pending.succeeded();
        assert_eq!(
            r,
            Redirect {
                code: "good+1".into(),
                iss: Some("https://a".into())
            }
        );
        h.join().unwrap();
        let pages: Vec<(u16, String)> = rx.iter().collect();
        assert_eq!(pages[0].0, 404);
        assert_eq!(pages[1].0, 400);
        assert!(pages[1].1.contains("does not belong"));
        assert_eq!(pages[2].0, 200);
        assert!(pages[2].1.contains("close this tab"));
    }

    #[test]
    fn error_callback_fails_at_once() {
        let cb = Callback::bind("127.0.0.1", 0, DEFAULT_PATH, None).unwrap();
        let port = cb.port();
        let h = std::thread::spawn(move || {
            get(
                port,
                "/callback?error=access_denied&error_description=no%20way&state=s",
            )
        });
        let err = cb
            .wait("s", Instant::now() + Duration::from_secs(10), &|| false)
            .unwrap_err();
        assert_eq!(
            err,
            "the authorization server refused the sign-in: access_denied: no way"
        );
        assert_eq!(h.join().unwrap().0, 400);
    }

    #[test]
    fn another_path_and_the_success_url() {
        let done = "https://example.com/signed-in";
        let cb = Callback::bind("127.0.0.1", 0, "/oauth/callback", Some(done)).unwrap();
        let port = cb.port();
        assert_eq!(
            cb.redirect_uri(),
            format!("http://127.0.0.1:{port}/oauth/callback")
        );
        let h = std::thread::spawn(move || {
            [
                get(port, "/callback?code=c&state=s"),
                get(port, "/oauth/callback?code=c&state=s"),
            ]
        });
        let (r, pending) = cb
            .wait("s", Instant::now() + Duration::from_secs(10), &|| false)
            .unwrap();
        assert_eq!(r.code, "c");
        pending.succeeded();
        let [other, ours] = h.join().unwrap();
        assert_eq!(other.0, 404);
        assert_eq!(ours, (303, done.to_string()));
        // A sign-in that fails after the browser came back says so instead.
        let cb = Callback::bind("127.0.0.1", 0, "/cb", Some(done)).unwrap();
        let port = cb.port();
        let h = std::thread::spawn(move || get(port, "/cb?code=c&state=s"));
        let (_, pending) = cb
            .wait("s", Instant::now() + Duration::from_secs(10), &|| false)
            .unwrap();
        drop(pending);
        let (status, page) = h.join().unwrap();
        assert_eq!(status, 502);
        assert!(page.contains("could not complete the sign-in"), "{page}");
    }

    #[test]
    fn waits_are_bounded() {
        let cb = Callback::bind("127.0.0.1", 0, DEFAULT_PATH, None).unwrap();
        let t = Instant::now();
        assert!(cb
            .wait("s", Instant::now() + Duration::from_millis(300), &|| false)
            .unwrap_err()
            .contains("timed out"));
        assert!(t.elapsed() < Duration::from_secs(2));
        assert!(cb
            .wait("s", Instant::now() + Duration::from_secs(30), &|| true)
            .unwrap_err()
            .contains("stdin closed"));
    }

    #[test]
    fn only_http_urls_are_opened() {
        assert!(open_browser("javascript:alert(1)", Some("true"))
            .unwrap_err()
            .starts_with("refusing"));
        assert!(open_browser("file:///etc/passwd", Some("true")).is_err());
        let mut c = open_browser("https://example.com/a?b=c", Some("true")).unwrap();
        assert!(c.wait().unwrap().success());
    }
}
