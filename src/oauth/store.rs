//! Sign-in state on disk, one directory per server: `<config-dir>/<first 16 hex of
//! sha256(url)>/` holding `tokens.json`, `client.json` and `metadata.json`. Files are 0600 and
//! directories 0700; every write goes to a temp file that is synced and renamed over the old
//! one, so a crash never leaves half a file. A file that cannot be read or parsed is reported
//! and treated as absent. Every file carries `"version"` so later releases can migrate it.
//! The `lock` file serializes sign-in and refresh across processes.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::cli::Grant;
use crate::secret::Secret;

pub const FORMAT_VERSION: u64 = 1;

/// The state directory of one server.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

/// The first 16 hex digits of sha256(server URL): the directory name.
pub fn server_key(url: &str) -> String {
    super::pkce::sha256_hex(url)[..16].to_string()
}

impl Store {
    pub fn new(root: &Path, server_url: &str) -> Store {
        Store {
            dir: root.join(server_key(server_url)),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Reads `name`; `Ok(None)` when absent, `Err` (with the reason) when unreadable or corrupt.
    pub fn load(&self, name: &str) -> Result<Option<Value>, String> {
        let path = self.dir.join(name);
        let text = match fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let v: Value = serde_json::from_slice(&text)
            .map_err(|e| format!("{} is corrupt ({e}); ignoring it", path.display()))?;
        match v.get("version").and_then(Value::as_u64) {
            Some(FORMAT_VERSION) if v.is_object() => Ok(Some(v)),
            Some(n) if n > FORMAT_VERSION => Err(format!(
                "{} was written by a newer mcp-remote (format {n}); ignoring it",
                path.display()
            )),
            _ => Err(format!(
                "{} has no known format version; ignoring it",
                path.display()
            )),
        }
    }

    /// Writes `name` atomically with mode 0600, creating the directory (0700) if needed.
    pub fn save(&self, name: &str, value: &Value) -> Result<(), String> {
        self.ensure_dir()?;
        let mut v = value.clone();
        if let Some(o) = v.as_object_mut() {
            o.insert("version".into(), json!(FORMAT_VERSION));
        }
        let bytes = serde_json::to_vec_pretty(&v).map_err(|e| e.to_string())?;
        let tmp = self
            .dir
            .join(format!(".{name}.{}.{}.tmp", std::process::id(), nanos()));
        let result = (|| -> std::io::Result<()> {
            let mut f = private_file(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            drop(f);
            fs::rename(&tmp, self.dir.join(name))?;
            sync_dir(&self.dir);
            Ok(())
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result.map_err(|e| format!("cannot write {}: {e}", self.dir.join(name).display()))
    }

    pub fn remove(&self, name: &str) {
        let _ = fs::remove_file(self.dir.join(name));
    }

    /// Removes this server's whole directory; returns whether there was one.
    pub fn remove_all(&self) -> Result<bool, String> {
        match fs::remove_dir_all(&self.dir) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(format!("cannot remove {}: {e}", self.dir.display())),
        }
    }

    /// Takes the cross-process lock, waiting until `deadline` (and while `keep_waiting` says so).
    /// The OS releases it when the holder exits, however it exits.
    pub fn lock(&self, deadline: Instant, keep_waiting: &dyn Fn() -> bool) -> Result<File, String> {
        self.ensure_dir()?;
        let path = self.dir.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(file),
                Err(fs::TryLockError::WouldBlock) => {}
                Err(fs::TryLockError::Error(e)) => {
                    return Err(format!("cannot lock {}: {e}", path.display()))
                }
            }
            if Instant::now() >= deadline || !keep_waiting() {
                return Err("another mcp-remote is still signing in to this server".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn ensure_dir(&self) -> Result<(), String> {
        let mut b = fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            b.mode(0o700);
        }
        b.create(&self.dir)
            .map_err(|e| format!("cannot create {}: {e}", self.dir.display()))
    }
}

fn private_file(path: &Path) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}

#[cfg(unix)]
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(not(unix))]
fn sync_dir(_: &Path) {}

fn nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Stored tokens, for the issuer that issued them.
#[derive(Debug, Clone, PartialEq)]
pub struct Tokens {
    pub issuer: String,
    pub access_token: Secret,
    pub refresh_token: Option<Secret>,
    /// Unix seconds.
    pub expires_at: Option<u64>,
    pub scope: Option<String>,
    /// The OpenID Connect ID token of the same response, sent instead of the access token with
    /// `--use-id-token`. Optional in the file: older versions ignore it, and files without it
    /// still load.
    pub id_token: Option<Secret>,
    /// The grant that obtained the tokens, so that another grant (a service's client
    /// credentials, a person's browser sign-in) never uses them. Files written before it was
    /// recorded lack it: theirs was the browser sign-in, the only grant then. Older versions
    /// ignore the field.
    pub grant: Grant,
    /// The client the tokens were issued to; absent in older files.
    pub client_id: Option<String>,
}

impl Tokens {
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "issuer": self.issuer,
            "access_token": self.access_token.expose(),
            "refresh_token": self.refresh_token.as_ref().map(Secret::expose),
            "expires_at": self.expires_at,
            "scope": self.scope,
            "grant": self.grant.name(),
            "client_id": self.client_id,
        });
        if let Some(id) = &self.id_token {
            v["id_token"] = json!(id.expose());
        }
        v
    }

    pub fn from_json(v: &Value) -> Option<Tokens> {
        Some(Tokens {
            issuer: v.get("issuer")?.as_str()?.to_string(),
            access_token: Secret::new(v.get("access_token")?.as_str()?),
            refresh_token: v
                .get("refresh_token")
                .and_then(Value::as_str)
                .map(Secret::new),
            expires_at: v.get("expires_at").and_then(Value::as_u64),
            scope: v.get("scope").and_then(Value::as_str).map(str::to_string),
            id_token: v.get("id_token").and_then(Value::as_str).map(Secret::new),
            // A grant this version does not know (a newer one wrote it): unreadable.
            grant: match v.get("grant").and_then(Value::as_str) {
                Some(g) => Grant::from_name(g)?,
                None => Grant::AuthorizationCode,
            },
            client_id: v
                .get("client_id")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }

    /// True when the access token expires within `margin` seconds.
    pub fn expires_within(&self, margin: u64) -> bool {
        self.expires_at.is_some_and(|t| t <= now_secs() + margin)
    }

    /// True when the ID token expires within `margin` seconds (its `exp` claim), or there is no
    /// ID token whose expiry can be read.
    pub fn id_token_expires_within(&self, margin: u64) -> bool {
        self.id_token
            .as_ref()
            .and_then(|t| super::jwt::expiry(t.expose()).ok())
            .is_none_or(|t| t <= now_secs() + margin)
    }
}

/// A client registration with one authorization server.
#[derive(Debug, Clone, PartialEq)]
pub struct Client {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<Secret>,
    pub redirect_uri: Option<String>,
    pub auth_method: String,
    pub registration_access_token: Option<Secret>,
    pub registration_client_uri: Option<String>,
}

impl Client {
    pub fn to_json(&self) -> Value {
        json!({
            "issuer": self.issuer,
            "client_id": self.client_id,
            "client_secret": self.client_secret.as_ref().map(Secret::expose),
            "redirect_uri": self.redirect_uri,
            "token_endpoint_auth_method": self.auth_method,
            "registration_access_token": self.registration_access_token.as_ref().map(Secret::expose),
            "registration_client_uri": self.registration_client_uri,
        })
    }

    pub fn from_json(v: &Value) -> Option<Client> {
        Some(Client {
            issuer: v.get("issuer")?.as_str()?.to_string(),
            client_id: v.get("client_id")?.as_str()?.to_string(),
            client_secret: v
                .get("client_secret")
                .and_then(Value::as_str)
                .map(Secret::new),
            redirect_uri: v
                .get("redirect_uri")
                .and_then(Value::as_str)
                .map(str::to_string),
            auth_method: v
                .get("token_endpoint_auth_method")
                .and_then(Value::as_str)
                .unwrap_or("none")
                .to_string(),
            registration_access_token: v
                .get("registration_access_token")
                .and_then(Value::as_str)
                .map(Secret::new),
            registration_client_uri: v
                .get("registration_client_uri")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }

    /// The port of the registered loopback redirect URI, to reuse it on later sign-ins.
    pub fn redirect_port(&self) -> Option<u16> {
        let u = crate::url::Url::parse(self.redirect_uri.as_deref()?).ok()?;
        Some(u.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory, removed when the test ends.
    struct Root(PathBuf);

    impl Drop for Root {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    impl std::ops::Deref for Root {
        type Target = Path;
        fn deref(&self) -> &Path {
            &self.0
        }
    }

    fn root() -> Root {
        let d = std::env::temp_dir().join(format!(
            "mcp-remote-store-{}-{}",
            std::process::id(),
            nanos()
        ));
        fs::create_dir_all(&d).unwrap();
        Root(d)
    }

    #[test]
    fn directory_name_is_hash16_of_the_url() {
        let s = Store::new(Path::new("/x"), "https://e.com/mcp");
        let name = s.dir().file_name().unwrap().to_str().unwrap().to_string();
        assert_eq!(
            name,
            super::super::pkce::sha256_hex("https://e.com/mcp")[..16]
        );
    }

    #[test]
    fn round_trip_with_private_modes() {
        let r = root();
        let s = Store::new(&r, "https://e.com/mcp");
        assert_eq!(s.load("tokens.json").unwrap(), None);
        let t = Tokens {
            issuer: "https://a".into(),
            access_token: Secret::new("at"),
            refresh_token: Some(Secret::new("rt")),
            expires_at: Some(5),
            scope: None,
            id_token: None,
            grant: Grant::ClientCredentials,
            client_id: Some("svc-1".into()),
        };
        s.save("tokens.json", &t.to_json()).unwrap();
        let back = Tokens::from_json(&s.load("tokens.json").unwrap().unwrap()).unwrap();
        assert_eq!(back, t);
        // The ID token is an optional field: written when there is one, read back.
        let with_id = Tokens {
            id_token: Some(Secret::new("e30.eyJleHAiOjV9.x")),
            ..t.clone()
        };
        s.save("tokens.json", &with_id.to_json()).unwrap();
        let back = Tokens::from_json(&s.load("tokens.json").unwrap().unwrap()).unwrap();
        assert_eq!(back, with_id);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(s.dir().join("tokens.json"))
                    .unwrap()
                    .permissions()
                    .mode()
                    & 0o777,
                0o600
            );
            assert_eq!(
                fs::metadata(s.dir()).unwrap().permissions().mode() & 0o777,
                0o700
            );
        }
        let leftovers: Vec<_> = fs::read_dir(s.dir())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn tokens_without_a_grant_came_from_the_browser() {
        // As written before the grant was recorded.
        let old = json!({"version": 1, "issuer": "https://a", "access_token": "at",
            "refresh_token": "rt", "expires_at": 5, "scope": "s"});
        let t = Tokens::from_json(&old).unwrap();
        assert_eq!((t.grant, &t.client_id), (Grant::AuthorizationCode, &None));
        // What is written now keeps every old field for older versions, which ignore the rest.
        let mut new = t.clone();
        new.grant = Grant::DeviceCode;
        new.client_id = Some("client-1".into());
        let v = new.to_json();
        for k in [
            "issuer",
            "access_token",
            "refresh_token",
            "expires_at",
            "scope",
        ] {
            assert_eq!(v[k], old[k], "{k}");
        }
        assert_eq!(
            (&v["grant"], &v["client_id"]),
            (&json!("device_code"), &json!("client-1"))
        );
        assert_eq!(Tokens::from_json(&v), Some(new));
        // A grant from a newer version: unreadable, not mistaken for another.
        let mut newer = v.clone();
        newer["grant"] = json!("urn:example:grant");
        assert_eq!(Tokens::from_json(&newer), None);
    }

    #[test]
    fn corrupt_and_future_files_are_reported_not_fatal() {
        let r = root();
        let s = Store::new(&r, "u");
        fs::create_dir_all(s.dir()).unwrap();
        fs::write(s.dir().join("tokens.json"), b"{\"access_tok").unwrap();
        assert!(s.load("tokens.json").unwrap_err().contains("corrupt"));
        fs::write(s.dir().join("client.json"), br#"{"version":99}"#).unwrap();
        assert!(s.load("client.json").unwrap_err().contains("newer"));
        fs::write(s.dir().join("metadata.json"), br#"{"a":1}"#).unwrap();
        assert!(s.load("metadata.json").is_err());
    }

    #[test]
    fn lock_is_exclusive_and_bounded() {
        let r = root();
        let s = Store::new(&r, "u");
        let held = s
            .lock(Instant::now() + Duration::from_secs(1), &|| true)
            .unwrap();
        let t = Instant::now();
        let err = s
            .lock(Instant::now() + Duration::from_millis(300), &|| true)
            .unwrap_err();
        assert!(err.contains("still signing in") && t.elapsed() >= Duration::from_millis(300));
        drop(held);
        assert!(s
            .lock(Instant::now() + Duration::from_secs(1), &|| true)
            .is_ok());
    }

    #[test]
    fn expiry_margin() {
        let mut t = Tokens {
            issuer: "i".into(),
            access_token: Secret::new("a"),
            refresh_token: None,
            expires_at: Some(now_secs() + 30),
            scope: None,
            id_token: None,
            grant: Grant::AuthorizationCode,
            client_id: None,
        };
        assert!(t.expires_within(60));
        t.expires_at = Some(now_secs() + 3600);
        assert!(!t.expires_within(60));
        t.expires_at = None;
        assert!(!t.expires_within(60));
        // The ID token's expiry is its exp claim; none, or none readable, counts as expired.
        assert!(t.id_token_expires_within(60));
        t.id_token = Some(Secret::new("opaque"));
        assert!(t.id_token_expires_within(60));
        t.id_token = Some(Secret::new("e30.eyJleHAiOjV9.x"));
        assert!(t.id_token_expires_within(60));
        // {"exp":4102444800}: the year 2100.
        t.id_token = Some(Secret::new("e30.eyJleHAiOjQxMDI0NDQ4MDB9.x"));
        assert!(!t.id_token_expires_within(60) && !t.expires_within(60));
    }
}
