//! Where the authorization server is and what it supports: the candidate URLs for protected
//! resource metadata (RFC 9728) and authorization server metadata (RFC 8414, OpenID Connect
//! Discovery) in the order the MCP specification gives, and the checks on what comes back.
//! Pure, no I/O.

use serde_json::Value;

use crate::url::Url;

/// Protected resource metadata URLs to try: the challenge's `resource_metadata` when given,
/// else the path-suffixed well-known URL, then the root one.
pub fn prm_candidates(server: &Url, from_header: Option<&str>) -> Vec<String> {
    if let Some(h) = from_header.and_then(|h| Url::parse(h).ok()) {
        return vec![h.to_string()];
    }
    let root = format!("{}/.well-known/oauth-protected-resource", server.origin());
    match server.path_no_slash() {
        "" => vec![root],
        p => vec![format!("{root}{p}"), root],
    }
}

/// Authorization server metadata URLs for `issuer`: three for an issuer with a path, two without.
pub fn as_candidates(issuer: &str) -> Result<Vec<String>, String> {
    let u = Url::parse(issuer)?;
    let o = u.origin();
    Ok(match u.path_no_slash() {
        "" => vec![
            format!("{o}/.well-known/oauth-authorization-server"),
            format!("{o}/.well-known/openid-configuration"),
        ],
        p => vec![
            format!("{o}/.well-known/oauth-authorization-server{p}"),
            format!("{o}/.well-known/openid-configuration{p}"),
            format!("{o}{p}/.well-known/openid-configuration"),
        ],
    })
}

/// What the protected resource metadata says.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceMetadata {
    pub resource: String,
    pub authorization_servers: Vec<String>,
    pub scopes_supported: Option<Vec<String>>,
}

/// Validates protected resource metadata for `server`: its `resource` must be the server's origin
/// with the server's path under it, so that tokens are never obtained for another resource.
pub fn check_prm(doc: &Value, server: &Url) -> Result<ResourceMetadata, String> {
    let resource = doc
        .get("resource")
        .and_then(Value::as_str)
        .ok_or("protected resource metadata has no \"resource\"")?;
    let r = Url::parse(resource).map_err(|_| {
        format!("protected resource metadata names resource {resource:?}, not a URL")
    })?;
    if !r.same_origin(server) || !server.path_under(&r) {
        return Err(format!(
            "protected resource metadata is for {resource}, not for {}: refusing to sign in",
            server.canonical()
        ));
    }
    let authorization_servers = strings(doc.get("authorization_servers"));
    if authorization_servers.is_empty() {
        return Err("protected resource metadata lists no authorization server".into());
    }
    Ok(ResourceMetadata {
        resource: resource.to_string(),
        authorization_servers,
        scopes_supported: doc.get("scopes_supported").map(|v| strings(Some(v))),
    })
}

/// What the authorization server metadata says, as far as sign-in needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerMetadata {
    pub issuer: String,
    /// Absent where the metadata leaves it out, which RFC 8414 allows for a server without the
    /// browser flow (client credentials, device code).
    pub authorization_endpoint: Option<String>,
    pub token_endpoint: String,
    pub registration_endpoint: Option<String>,
    pub scopes_supported: Option<Vec<String>>,
    pub token_endpoint_auth_methods: Vec<String>,
    pub cimd_supported: bool,
    pub iss_parameter_supported: bool,
    /// RFC 8628, for `--device-code`.
    pub device_authorization_endpoint: Option<String>,
}

/// Validates authorization server metadata fetched for `issuer`: the `issuer` must be identical
/// (no normalization), PKCE with S256 must be advertised, the endpoints must be http(s) URLs.
/// `browser`: the sign-in uses the authorization endpoint, so it must be there (RFC 8414 section
/// 2 lets a server without the browser flow leave it out).
pub fn check_as_metadata(
    doc: &Value,
    issuer: &str,
    browser: bool,
    require_pkce_advert: bool,
) -> Result<ServerMetadata, String> {
    let got = doc.get("issuer").and_then(Value::as_str).unwrap_or("");
    if got != issuer {
        return Err(format!(
            "authorization server metadata names issuer {got:?}, but it was fetched for {issuer:?}"
        ));
    }
    let methods = strings(doc.get("code_challenge_methods_supported"));
    if methods.is_empty() && require_pkce_advert {
        return Err("the authorization server does not advertise PKCE (no code_challenge_methods_supported): refusing to sign in".into());
    }
    if !methods.is_empty() && !methods.iter().any(|m| m == "S256") {
        return Err(
            "the authorization server does not support PKCE with S256: refusing to sign in".into(),
        );
    }
    let endpoint = |name: &str| -> Result<String, String> {
        let v = doc
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("authorization server metadata has no {name}"))?;
        Url::parse(v)
            .map(|_| v.to_string())
            .map_err(|_| format!("{name} {v:?} is not an http(s) URL"))
    };
    Ok(ServerMetadata {
        issuer: issuer.to_string(),
        authorization_endpoint: match doc.get("authorization_endpoint") {
            None if !browser => None,
            _ => Some(endpoint("authorization_endpoint")?),
        },
        token_endpoint: endpoint("token_endpoint")?,
        registration_endpoint: doc
            .get("registration_endpoint")
            .and_then(Value::as_str)
            .filter(|v| Url::parse(v).is_ok())
            .map(str::to_string),
        scopes_supported: doc.get("scopes_supported").map(|v| strings(Some(v))),
        token_endpoint_auth_methods: strings(doc.get("token_endpoint_auth_methods_supported")),
        cimd_supported: doc
            .get("client_id_metadata_document_supported")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        iss_parameter_supported: doc
            .get("authorization_response_iss_parameter_supported")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        device_authorization_endpoint: doc
            .get("device_authorization_endpoint")
            .and_then(Value::as_str)
            .filter(|v| Url::parse(v).is_ok())
            .map(str::to_string),
    })
}

/// For 2025-03-26 servers without metadata: the default endpoints at the server's origin.
pub fn default_endpoints(server: &Url) -> ServerMetadata {
    let o = server.origin();
    ServerMetadata {
        issuer: o.clone(),
        authorization_endpoint: Some(format!("{o}/authorize")),
        token_endpoint: format!("{o}/token"),
        registration_endpoint: Some(format!("{o}/register")),
        scopes_supported: None,
        token_endpoint_auth_methods: Vec::new(),
        cimd_supported: false,
        iss_parameter_supported: false,
        device_authorization_endpoint: None,
    }
}

/// `--token-endpoint`: no discovery, only the token endpoint, which also names the issuer the
/// tokens are stored for. Nothing else is known, so the client authenticates with
/// client_secret_basic, the RFC 8414 default.
pub fn token_endpoint_only(token_endpoint: &str) -> ServerMetadata {
    ServerMetadata {
        issuer: token_endpoint.to_string(),
        authorization_endpoint: None,
        token_endpoint: token_endpoint.to_string(),
        registration_endpoint: None,
        scopes_supported: None,
        token_endpoint_auth_methods: Vec::new(),
        cimd_supported: false,
        iss_parameter_supported: false,
        device_authorization_endpoint: None,
    }
}

/// The token endpoint auth method to register: `none` for a public client where allowed, else
/// the first secret-based method the server supports (RFC 8414 default: client_secret_basic).
pub fn pick_auth_method(supported: &[String]) -> &'static str {
    if supported.is_empty() {
        return "client_secret_basic";
    }
    for m in ["none", "client_secret_post", "client_secret_basic"] {
        if supported.iter().any(|s| s == m) {
            return m;
        }
    }
    "client_secret_basic"
}

/// Scope to request: the challenge's, else `scopes_supported` from the resource metadata, else
/// none. `offline_access` is added where the authorization server offers it, so a refresh token
/// can be issued.
pub fn pick_scope(
    challenge: Option<&str>,
    prm: Option<&ResourceMetadata>,
    asm: &ServerMetadata,
) -> Option<String> {
    let mut scopes: Vec<String> = match challenge.filter(|s| !s.trim().is_empty()) {
        Some(s) => s.split_whitespace().map(str::to_string).collect(),
        None => prm
            .and_then(|p| p.scopes_supported.clone())
            .unwrap_or_default(),
    };
    if !scopes.is_empty()
        && asm
            .scopes_supported
            .as_ref()
            .is_some_and(|s| s.iter().any(|x| x == "offline_access"))
        && !scopes.iter().any(|s| s == "offline_access")
    {
        scopes.push("offline_access".into());
    }
    (!scopes.is_empty()).then(|| scopes.join(" "))
}

/// The union of two space-separated scope sets, keeping first-seen order (step-up).
pub fn union_scopes(a: Option<&str>, b: Option<&str>) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    for s in a.into_iter().chain(b).flat_map(str::split_whitespace) {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    (!out.is_empty()).then(|| out.join(" "))
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn prm_order() {
        assert_eq!(
            prm_candidates(&url("https://e.com/public/mcp"), None),
            vec![
                "https://e.com/.well-known/oauth-protected-resource/public/mcp",
                "https://e.com/.well-known/oauth-protected-resource"
            ]
        );
        assert_eq!(
            prm_candidates(&url("https://e.com/"), None),
            vec!["https://e.com/.well-known/oauth-protected-resource"]
        );
        assert_eq!(
            prm_candidates(&url("https://e.com/mcp"), Some("https://e.com/custom/prm")),
            vec!["https://e.com/custom/prm"]
        );
    }

    #[test]
    fn as_order() {
        assert_eq!(
            as_candidates("https://auth.example.com/tenant1").unwrap(),
            vec![
                "https://auth.example.com/.well-known/oauth-authorization-server/tenant1",
                "https://auth.example.com/.well-known/openid-configuration/tenant1",
                "https://auth.example.com/tenant1/.well-known/openid-configuration",
            ]
        );
        assert_eq!(
            as_candidates("http://localhost:3201/").unwrap(),
            vec![
                "http://localhost:3201/.well-known/oauth-authorization-server",
                "http://localhost:3201/.well-known/openid-configuration"
            ]
        );
    }

    #[test]
    fn resource_must_cover_the_server() {
        let server = url("https://mcp.e.com/v1/mcp");
        let prm = |r: &str| json!({"resource": r, "authorization_servers": ["https://auth.e.com"]});
        assert!(check_prm(&prm("https://mcp.e.com/v1/mcp"), &server).is_ok());
        assert!(check_prm(&prm("https://mcp.e.com"), &server).is_ok());
        assert!(check_prm(&prm("https://evil.example.com/mcp"), &server)
            .unwrap_err()
            .contains("refusing"));
        assert!(check_prm(&prm("https://mcp.e.com/v2"), &server).is_err());
        assert!(check_prm(
            &json!({"resource": "https://mcp.e.com", "authorization_servers": []}),
            &server
        )
        .is_err());
    }

    #[test]
    fn issuer_must_match_exactly_and_pkce_is_required() {
        let good = json!({"issuer": "https://a.com/", "authorization_endpoint": "https://a.com/authorize", "token_endpoint": "https://a.com/token", "code_challenge_methods_supported": ["S256"]});
        assert!(check_as_metadata(&good, "https://a.com/", true, true).is_ok());
        assert!(check_as_metadata(&good, "https://a.com", true, true)
            .unwrap_err()
            .contains("names issuer"));
        let mut no_pkce = good.clone();
        no_pkce
            .as_object_mut()
            .unwrap()
            .remove("code_challenge_methods_supported");
        assert!(check_as_metadata(&no_pkce, "https://a.com/", true, true)
            .unwrap_err()
            .contains("PKCE"));
        let mut plain = good.clone();
        plain["code_challenge_methods_supported"] = json!(["plain"]);
        assert!(check_as_metadata(&plain, "https://a.com/", true, true)
            .unwrap_err()
            .contains("S256"));
    }

    #[test]
    fn authorization_endpoint_is_required_only_for_the_browser() {
        let doc = json!({"issuer": "https://a.com/", "token_endpoint": "https://a.com/token"});
        assert!(check_as_metadata(&doc, "https://a.com/", true, false)
            .unwrap_err()
            .contains("has no authorization_endpoint"));
        let m = check_as_metadata(&doc, "https://a.com/", false, false).unwrap();
        assert_eq!(
            (m.authorization_endpoint, m.token_endpoint.as_str()),
            (None, "https://a.com/token")
        );
        // One that is there is still checked.
        let mut bad = doc.clone();
        bad["authorization_endpoint"] = json!("javascript:x");
        assert!(check_as_metadata(&bad, "https://a.com/", false, false)
            .unwrap_err()
            .contains("not an http(s) URL"));
    }

    #[test]
    fn auth_method_and_scopes() {
        assert_eq!(pick_auth_method(&[]), "client_secret_basic");
        assert_eq!(
            pick_auth_method(&["client_secret_basic".into(), "none".into()]),
            "none"
        );
        assert_eq!(
            pick_auth_method(&["client_secret_post".into()]),
            "client_secret_post"
        );
        let mut asm = default_endpoints(&url("https://a.com"));
        let prm = ResourceMetadata {
            resource: "x".into(),
            authorization_servers: vec![],
            scopes_supported: Some(vec!["r".into(), "w".into()]),
        };
        assert_eq!(
            pick_scope(Some("mcp:basic"), Some(&prm), &asm).as_deref(),
            Some("mcp:basic")
        );
        assert_eq!(pick_scope(None, Some(&prm), &asm).as_deref(), Some("r w"));
        assert_eq!(pick_scope(None, None, &asm), None);
        asm.scopes_supported = Some(vec!["offline_access".into()]);
        assert_eq!(
            pick_scope(Some("a"), None, &asm).as_deref(),
            Some("a offline_access")
        );
        assert_eq!(
            union_scopes(Some("a b"), Some("b c")).as_deref(),
            Some("a b c")
        );
        assert_eq!(union_scopes(None, None), None);
    }
}
