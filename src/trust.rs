//! Which certificate authorities TLS trusts: the operating system's store (where IT installs a
//! corporate root), plus extra PEM files from `NODE_EXTRA_CA_CERTS`, `SSL_CERT_FILE` and
//! `--ca-file`, which are added to it and never replace it. Mozilla's roots, bundled with the
//! binary, are the fallback where the OS offers none.

use std::path::{Path, PathBuf};

use ureq::tls::{Certificate, PemItem, RootCerts};

/// Where Linux and BSD distributions keep their CA bundle.
#[cfg(not(any(target_os = "macos", windows)))]
const BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
    "/usr/local/share/certs/ca-root-nss.crt",
];

/// The extra CA files, in the order they are read: environment first, then `--ca-file`.
pub fn extra_files(
    ca_files: &[PathBuf],
    env: &dyn Fn(&str) -> Option<String>,
) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for var in ["NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE"] {
        if let Some(p) = env(var).filter(|v| !v.trim().is_empty()) {
            out.push((var.to_string(), PathBuf::from(p)));
        }
    }
    out.extend(
        ca_files
            .iter()
            .map(|p| ("--ca-file".to_string(), p.clone())),
    );
    out
}

/// The certificates in a PEM file; an error names the file and says what is wrong.
pub fn read_pem(path: &Path) -> Result<Vec<Certificate<'static>>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(&bytes)
        .filter_map(|item| match item {
            Ok(PemItem::Certificate(c)) => Some(c.to_owned()),
            _ => None,
        })
        .collect();
    if certs.is_empty() {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    Ok(certs)
}

/// The roots to verify servers with. Extra files that cannot be used are logged and skipped
/// (`--ca-file` is checked at start, so only environment files can get here broken).
pub fn roots(ca_files: &[PathBuf], env: &dyn Fn(&str) -> Option<String>) -> RootCerts {
    roots_over(os_store(), ca_files, env)
}

/// [`roots`] over the OS store's certificates `os`.
fn roots_over(
    os: Vec<Certificate<'static>>,
    ca_files: &[PathBuf],
    env: &dyn Fn(&str) -> Option<String>,
) -> RootCerts {
    let from_os = os.len();
    let mut extra = Vec::new();
    for (source, path) in extra_files(ca_files, env) {
        match read_pem(&path) {
            Ok(c) => {
                log::debug!(
                    "trusting {} extra CA certificate(s) from {source} ({})",
                    c.len(),
                    path.display()
                );
                extra.extend(c);
            }
            Err(e) => log::error!("{source}: {e}; ignoring it"),
        }
    }
    if from_os == 0 && extra.is_empty() {
        log::debug!("the OS offers no CA certificates; using the bundled Mozilla roots");
        return RootCerts::WebPki;
    }
    let mut certs = if from_os == 0 {
        log::debug!(
            "the OS offers no CA certificates; using the bundled Mozilla roots plus {} extra",
            extra.len()
        );
        mozilla()
    } else {
        os
    };
    // The same bundle often comes twice (NODE_EXTRA_CA_CERTS or SSL_CERT_FILE pointing at the
    // OS bundle): each certificate is kept once.
    for c in extra {
        if !certs.iter().any(|x| x.der() == c.der()) {
            certs.push(c);
        }
    }
    log::debug!(
        "TLS trust: {from_os} certificate(s) from the OS store, {} in all",
        certs.len()
    );
    RootCerts::Specific(std::sync::Arc::new(certs))
}

/// The Mozilla roots bundled with the binary (the `webpki-roots` that ureq's own fallback
/// uses), as certificates, since ureq takes nothing else beside them. The crate holds trust
/// anchors, not certificates; each is re-encoded as one that rustls reads back into the same
/// anchor (see [`crate::x509::anchor_certificate`]).
fn mozilla() -> Vec<Certificate<'static>> {
    webpki_roots::TLS_SERVER_ROOTS
        .iter()
        .map(|a| {
            let der = crate::x509::anchor_certificate(
                a.subject.as_ref(),
                a.subject_public_key_info.as_ref(),
                a.name_constraints.as_ref().map(|nc| nc.as_ref()),
            );
            Certificate::from_der(&der).to_owned()
        })
        .collect()
}

/// Whether `roots` are the bundled Mozilla roots (alone, or with extra files added to them)
/// rather than the OS store, for `--doctor` to say so.
pub fn bundled(roots: &RootCerts) -> bool {
    match roots {
        RootCerts::WebPki => true,
        RootCerts::Specific(certs) => {
            let mozilla = mozilla();
            certs.len() >= mozilla.len()
                && certs.iter().zip(&mozilla).all(|(c, m)| c.der() == m.der())
        }
        _ => false,
    }
}

/// The same roots as a rustls store, for `--doctor`'s own handshake (the bundled Mozilla roots
/// from the same `webpki-roots` ureq uses). `None` only for a verifier rustls does not expose.
pub fn root_store(roots: &RootCerts) -> Option<rustls::RootCertStore> {
    match roots {
        RootCerts::Specific(certs) => {
            let mut store = rustls::RootCertStore::empty();
            store.add_parsable_certificates(
                certs
                    .iter()
                    .map(|c| rustls::pki_types::CertificateDer::from(c.der())),
            );
            Some(store)
        }
        RootCerts::WebPki => Some(rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        }),
        _ => None,
    }
}

#[cfg(not(any(target_os = "macos", windows)))]
fn os_store() -> Vec<Certificate<'static>> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    let mut add = |c: Certificate<'static>| {
        if seen.insert(c.der().to_vec()) {
            out.push(c);
        }
    };
    let mut any = false;
    for b in BUNDLES {
        if let Ok(certs) = read_pem(Path::new(b)) {
            any = true;
            certs.into_iter().for_each(&mut add);
        }
    }
    if !any {
        // No bundle: fall back to the certificate directory, one PEM per file.
        if let Ok(dir) = std::fs::read_dir("/etc/ssl/certs") {
            for e in dir.flatten() {
                if let Ok(certs) = read_pem(&e.path()) {
                    certs.into_iter().for_each(&mut add);
                }
            }
        }
    }
    out
}

#[cfg(any(target_os = "macos", windows))]
fn os_store() -> Vec<Certificate<'static>> {
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        log::debug!("OS trust store: {e}");
    }
    found
        .certs
        .iter()
        .map(|c| Certificate::from_der(c.as_ref()).to_owned())
        .collect()
}

/// A TLS failure, in words a user can act on, with how to fix it.
pub fn explain(detail: &str) -> Option<String> {
    let fix = "if a corporate proxy inspects TLS, add its CA certificate with --ca-file PATH (or NODE_EXTRA_CA_CERTS)";
    let d = detail.to_ascii_lowercase();
    let what = if d.contains("unknownissuer")
        || d.contains("unknown issuer")
        || d.contains("unknown ca")
    {
        "the server's certificate is signed by an authority this machine does not trust"
    } else if d.contains("expired") || d.contains("notvalidyet") {
        return Some("the server's certificate has expired or is not valid yet (check the server, and this machine's clock)".into());
    } else if d.contains("notvalidforname") || d.contains("not valid for name") {
        return Some(
            "the server's certificate is not valid for this host name (check the URL)".into(),
        );
    } else if d.contains("badsignature") || d.contains("invalid peer certificate") {
        "the server's certificate could not be verified"
    } else {
        return None;
    };
    Some(format!("{what}; {fix}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_files_come_from_env_then_flags() {
        let env = |k: &str| match k {
            "NODE_EXTRA_CA_CERTS" => Some("/a.pem".to_string()),
            "SSL_CERT_FILE" => Some(" ".to_string()),
            _ => None,
        };
        let got = extra_files(&[PathBuf::from("/b.pem")], &env);
        assert_eq!(
            got,
            vec![
                ("NODE_EXTRA_CA_CERTS".into(), PathBuf::from("/a.pem")),
                ("--ca-file".into(), PathBuf::from("/b.pem"))
            ]
        );
    }

    #[test]
    fn pem_files_must_hold_certificates() {
        let dir = std::env::temp_dir().join(format!("mcp-remote-trust-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("empty.pem");
        std::fs::write(&f, "not a certificate\n").unwrap();
        assert!(read_pem(&f)
            .unwrap_err()
            .ends_with("holds no PEM certificate"));
        assert!(read_pem(&dir.join("missing.pem"))
            .unwrap_err()
            .starts_with("cannot read"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_mozilla_roots_read_back_as_the_same_trust_anchors() {
        let anchors = webpki_roots::TLS_SERVER_ROOTS;
        assert!(anchors.iter().any(|a| a.name_constraints.is_some()));
        let mut store = rustls::RootCertStore::empty();
        let certs = mozilla();
        let ders = certs
            .iter()
            .map(|c| rustls::pki_types::CertificateDer::from(c.der()));
        // How ureq reads RootCerts::Specific.
        assert_eq!(store.add_parsable_certificates(ders), (anchors.len(), 0));
        assert_eq!(store.roots.len(), anchors.len());
        for (i, (got, want)) in store.roots.iter().zip(anchors).enumerate() {
            assert_eq!(got, want, "root {i}");
        }
    }

    #[test]
    fn extra_files_are_added_to_the_mozilla_roots_where_the_os_offers_none() {
        let dir =
            std::env::temp_dir().join(format!("mcp-remote-trust-extra-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("ca.pem");
        let cert = crate::x509::tests::UTC_CERT;
        let lines: Vec<&str> = cert
            .as_bytes()
            .chunks(64)
            .map(|l| std::str::from_utf8(l).unwrap())
            .collect();
        let pem = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            lines.join("\n")
        );
        std::fs::write(&f, pem).unwrap();
        let der = crate::x509::tests::der(cert);
        let mozilla = webpki_roots::TLS_SERVER_ROOTS.len();

        let roots = roots_over(Vec::new(), std::slice::from_ref(&f), &|_| None);
        let RootCerts::Specific(certs) = &roots else {
            panic!("{roots:?}");
        };
        assert_eq!(certs.len(), mozilla + 1);
        assert_eq!(certs[mozilla].der(), &der[..]);
        assert!(bundled(&roots));
        assert_eq!(root_store(&roots).unwrap().roots.len(), mozilla + 1);

        // Without extra files, ureq's own copy of the same roots, which --doctor checks with too.
        let roots = roots_over(Vec::new(), &[], &|_| None);
        assert!(matches!(roots, RootCerts::WebPki));
        assert!(bundled(&roots));
        assert_eq!(root_store(&roots).unwrap().roots.len(), mozilla);

        // With an OS store, the extra files are added to it instead.
        let other = crate::x509::tests::der(crate::x509::tests::GENERALIZED_CERT);
        let os = vec![Certificate::from_der(&other).to_owned()];
        let roots = roots_over(os, std::slice::from_ref(&f), &|_| None);
        let RootCerts::Specific(certs) = &roots else {
            panic!("{roots:?}");
        };
        assert_eq!(certs.len(), 2);
        assert!(!bundled(&roots));

        // A certificate the OS store (or another file) already holds is kept once.
        let os = vec![Certificate::from_der(&der).to_owned()];
        let env = |k: &str| (k == "SSL_CERT_FILE").then(|| f.display().to_string());
        let roots = roots_over(os, std::slice::from_ref(&f), &env);
        let RootCerts::Specific(certs) = &roots else {
            panic!("{roots:?}");
        };
        assert_eq!(certs.len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn tls_failures_are_explained() {
        assert!(explain("io: invalid peer certificate: UnknownIssuer")
            .unwrap()
            .contains("--ca-file"));
        assert!(explain("invalid peer certificate: Expired")
            .unwrap()
            .contains("expired"));
        assert!(explain("invalid peer certificate: NotValidForName")
            .unwrap()
            .contains("host name"));
        assert_eq!(explain("connection refused"), None);
    }
}
