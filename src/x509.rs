//! What `--doctor` shows of a server's certificate, read from its DER bytes: the subject's
//! common name, the issuer, the validity dates and the names it covers. Pure: no I/O and no
//! signature checks (rustls decides whether to trust a certificate; this only describes it),
//! and malformed input is an error, never a panic. Also writes the one certificate mcp-remote
//! makes: a trust anchor dressed as a certificate, for ureq, which takes roots only that way.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const INTEGER: u8 = 0x02;
const BOOLEAN: u8 = 0x01;
const OCTET_STRING: u8 = 0x04;
const OID: u8 = 0x06;
const BIT_STRING: u8 = 0x03;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
/// `[0] EXPLICIT version` and `[3] EXPLICIT extensions` in a TBSCertificate.
const VERSION: u8 = 0xa0;
const EXTENSIONS: u8 = 0xa3;
/// `dNSName [2]` and `iPAddress [7]` in GeneralNames.
const DNS_NAME: u8 = 0x82;
const IP_ADDRESS: u8 = 0x87;

const OID_CN: &[u8] = &[0x55, 0x04, 0x03];
const OID_O: &[u8] = &[0x55, 0x04, 0x0a];
const OID_SAN: &[u8] = &[0x55, 0x1d, 0x11];
const OID_NAME_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x1e];
/// ecdsa-with-SHA256, named by [`anchor_certificate`]'s certificates, which carry no signature.
const OID_ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];

/// The most names a summary lists; a wildcard certificate for a CDN may carry hundreds.
const NAMES_SHOWN: usize = 4;

/// The parts of an end-entity certificate the doctor reports.
#[derive(Debug, PartialEq)]
pub struct Cert {
    pub subject_cn: Option<String>,
    /// `CN=..., O=...`, or `(no name)`.
    pub issuer: String,
    pub not_before: Time,
    pub not_after: Time,
    /// DNS names and IP addresses from the subject alternative name extension.
    pub names: Vec<String>,
}

/// A certificate time, always UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Time {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
}

impl Time {
    /// Seconds since 1970-01-01 00:00:00 UTC (negative before).
    pub fn unix(&self) -> i64 {
        days_from_civil(self.year, self.month, self.day) * 86_400
            + self.hour * 3600
            + self.minute * 60
            + self.second
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

impl Cert {
    /// One line for the doctor's TLS step, given the time now in Unix seconds:
    /// `issued by CN=..., for a.example, expires 2027-01-01 00:00:00 UTC (in 41 days)`.
    pub fn summary(&self, now: i64) -> String {
        let mut s = format!("issued by {}", self.issuer);
        if let Some(names) = self.covers() {
            s.push_str(&format!(", for {names}"));
        }
        if now < self.not_before.unix() {
            s.push_str(&format!(
                ", NOT VALID YET: from {} ({})",
                self.not_before,
                relative(self.not_before, now)
            ));
        }
        if self.expired(now) {
            s.push_str(&format!(
                ", EXPIRED {} ({})",
                self.not_after,
                relative(self.not_after, now)
            ));
        } else {
            s.push_str(&format!(
                ", expires {} ({})",
                self.not_after,
                relative(self.not_after, now)
            ));
        }
        s
    }

    /// The names the certificate is for, a few of them: from the subject alternative names,
    /// else the subject's common name.
    pub fn covers(&self) -> Option<String> {
        let mut names: Vec<&str> = self.names.iter().map(String::as_str).collect();
        if names.is_empty() {
            names.extend(self.subject_cn.as_deref());
        }
        let more = names.len().saturating_sub(NAMES_SHOWN);
        names.truncate(NAMES_SHOWN);
        match (names.is_empty(), more) {
            (true, _) => None,
            (false, 0) => Some(names.join(", ")),
            (false, n) => Some(format!("{} and {n} more", names.join(", "))),
        }
    }

    pub fn expired(&self, now: i64) -> bool {
        now > self.not_after.unix()
    }
}

/// How far `t` is from `now`: `in 41 days`, `3 days ago`.
pub fn relative(t: Time, now: i64) -> String {
    let secs = t.unix() - now;
    let days = secs.abs() / 86_400;
    let span = match days {
        0 => "less than a day".to_string(),
        1 => "1 day".to_string(),
        n => format!("{n} days"),
    };
    if secs >= 0 {
        format!("in {span}")
    } else {
        format!("{span} ago")
    }
}

/// Reads a DER-encoded X.509 certificate.
pub fn parse(der: &[u8]) -> Result<Cert, String> {
    let cert = Der(der).expect(SEQUENCE, "certificate")?;
    let mut tbs = Der(Der(cert).expect(SEQUENCE, "tbsCertificate")?);
    if tbs.peek() == Some(VERSION) {
        tbs.next()?;
    }
    tbs.expect(INTEGER, "serial number")?;
    tbs.expect(SEQUENCE, "signature algorithm")?;
    let issuer = name(tbs.expect(SEQUENCE, "issuer")?)?;
    let mut validity = Der(tbs.expect(SEQUENCE, "validity")?);
    let not_before = time(validity.next()?)?;
    let not_after = time(validity.next()?)?;
    let subject = name(tbs.expect(SEQUENCE, "subject")?)?;
    tbs.expect(SEQUENCE, "public key")?;
    let mut names = Vec::new();
    while !tbs.0.is_empty() {
        let (tag, body) = tbs.next()?;
        if tag == EXTENSIONS {
            names = alt_names(body)?;
        }
    }
    let pick = |attrs: &[(&[u8], String)], oid: &[u8]| {
        attrs
            .iter()
            .filter(|(o, _)| *o == oid)
            .map(|(_, v)| v.clone())
            .collect::<Vec<_>>()
    };
    let mut parts: Vec<String> = Vec::new();
    parts.extend(pick(&issuer, OID_CN).into_iter().map(|v| format!("CN={v}")));
    parts.extend(pick(&issuer, OID_O).into_iter().map(|v| format!("O={v}")));
    Ok(Cert {
        subject_cn: pick(&subject, OID_CN).into_iter().next(),
        issuer: if parts.is_empty() {
            "(no name)".to_string()
        } else {
            parts.join(", ")
        },
        not_before,
        not_after,
        names,
    })
}

/// The unread rest of a DER value's contents.
struct Der<'a>(&'a [u8]);

impl<'a> Der<'a> {
    fn peek(&self) -> Option<u8> {
        self.0.first().copied()
    }

    /// The next element's tag and contents.
    fn next(&mut self) -> Result<(u8, &'a [u8]), String> {
        let truncated = || "truncated certificate".to_string();
        let (&tag, rest) = self.0.split_first().ok_or_else(truncated)?;
        if tag & 0x1f == 0x1f {
            return Err("unexpected multi-byte tag in certificate".into());
        }
        let (&first, rest) = rest.split_first().ok_or_else(truncated)?;
        let (len, rest) = match first {
            0..=0x7f => (usize::from(first), rest),
            0x81..=0x84 => {
                let n = usize::from(first & 0x7f);
                if rest.len() < n {
                    return Err(truncated());
                }
                let (bytes, rest) = rest.split_at(n);
                let len = bytes.iter().fold(0usize, |a, &b| (a << 8) | usize::from(b));
                (len, rest)
            }
            _ => return Err("bad length in certificate".into()),
        };
        if rest.len() < len {
            return Err(truncated());
        }
        let (body, rest) = rest.split_at(len);
        self.0 = rest;
        Ok((tag, body))
    }

    fn expect(&mut self, want: u8, what: &str) -> Result<&'a [u8], String> {
        match self.next()? {
            (tag, body) if tag == want => Ok(body),
            (tag, _) => Err(format!(
                "certificate {what}: expected tag {want:#04x}, found {tag:#04x}"
            )),
        }
    }
}

/// A Name's attributes, in order, as (OID bytes, text).
fn name(der: &[u8]) -> Result<Vec<(&[u8], String)>, String> {
    let mut out = Vec::new();
    let mut rdns = Der(der);
    while !rdns.0.is_empty() {
        let mut set = Der(rdns.expect(SET, "name")?);
        while !set.0.is_empty() {
            let mut attr = Der(set.expect(SEQUENCE, "name attribute")?);
            let oid = attr.expect(OID, "attribute type")?;
            let (tag, value) = attr.next()?;
            out.push((oid, text(tag, value)?));
        }
    }
    Ok(out)
}

/// A directory string as text, with control characters replaced: it comes from the server and
/// is printed on a terminal.
fn text(tag: u8, value: &[u8]) -> Result<String, String> {
    let s: String = match tag {
        // BMPString: UTF-16BE.
        0x1e => {
            if !value.len().is_multiple_of(2) {
                return Err("bad BMPString in certificate".into());
            }
            let units = value
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]));
            char::decode_utf16(units)
                .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
                .collect()
        }
        // TeletexString: treated as Latin-1, as most readers do.
        0x14 => value.iter().map(|&b| char::from(b)).collect(),
        // UTF8String, PrintableString, IA5String and anything else.
        _ => String::from_utf8_lossy(value).into_owned(),
    };
    Ok(s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect())
}

/// UTCTime (`YYMMDDHHMMSSZ`, years 1950 to 2049) or GeneralizedTime (`YYYYMMDDHHMMSSZ`).
fn time((tag, value): (u8, &[u8])) -> Result<Time, String> {
    let bad = || {
        format!(
            "bad time {:?} in certificate",
            String::from_utf8_lossy(value)
        )
    };
    let (digits, century) = match (tag, value.len()) {
        (UTC_TIME, 13) => (&value[..12], None),
        (GENERALIZED_TIME, 15) => (&value[..14], Some(())),
        _ => return Err(bad()),
    };
    if value.last() != Some(&b'Z') || !digits.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    let num = |i: usize| i64::from(digits[i] - b'0') * 10 + i64::from(digits[i + 1] - b'0');
    let (year, at) = match century {
        Some(()) => (num(0) * 100 + num(2), 4),
        None if num(0) >= 50 => (1900 + num(0), 2),
        None => (2000 + num(0), 2),
    };
    let t = Time {
        year,
        month: num(at),
        day: num(at + 2),
        hour: num(at + 4),
        minute: num(at + 6),
        second: num(at + 8),
    };
    let ok = (1..=12).contains(&t.month)
        && (1..=31).contains(&t.day)
        && t.hour < 24
        && t.minute < 60
        && t.second <= 60;
    if ok {
        Ok(t)
    } else {
        Err(bad())
    }
}

/// The DNS names and IP addresses in the subject alternative name extension, if there is one.
fn alt_names(extensions: &[u8]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut exts = Der(Der(extensions).expect(SEQUENCE, "extensions")?);
    while !exts.0.is_empty() {
        let mut ext = Der(exts.expect(SEQUENCE, "extension")?);
        let oid = ext.expect(OID, "extension id")?;
        if ext.peek() == Some(BOOLEAN) {
            ext.next()?;
        }
        let value = ext.expect(OCTET_STRING, "extension value")?;
        if oid != OID_SAN {
            continue;
        }
        let mut general = Der(Der(value).expect(SEQUENCE, "subject alternative names")?);
        while !general.0.is_empty() {
            match general.next()? {
                (DNS_NAME, n) => out.push(text(0x16, n)?),
                (IP_ADDRESS, ip) => {
                    if let Ok(v4) = <[u8; 4]>::try_from(ip) {
                        out.push(Ipv4Addr::from(v4).to_string());
                    } else if let Ok(v6) = <[u8; 16]>::try_from(ip) {
                        out.push(Ipv6Addr::from(v6).to_string());
                    }
                }
                _ => {}
            }
        }
    }
    Ok(out)
}

/// A certificate that stands for a trust anchor: `subject`, `spki` and `name_constraints` are
/// the contents (no tag, no length) of its subject Name, its SubjectPublicKeyInfo and its
/// NameConstraints, which is how rustls and webpki keep a `TrustAnchor`. webpki's
/// `anchor_from_trusted_cert` reads exactly these three back from a v3 certificate and checks
/// nothing else, so the rest is filler: serial 1, issuer = subject, valid from 1970 with no
/// end (RFC 5280's 99991231235959Z), and an empty signature.
pub fn anchor_certificate(subject: &[u8], spki: &[u8], name_constraints: Option<&[u8]>) -> Vec<u8> {
    let algorithm = tlv(SEQUENCE, &[&tlv(OID, &[OID_ECDSA_SHA256])]);
    let name = tlv(SEQUENCE, &[subject]);
    let validity = tlv(
        SEQUENCE,
        &[
            &tlv(UTC_TIME, &[b"700101000000Z"]),
            &tlv(GENERALIZED_TIME, &[b"99991231235959Z"]),
        ],
    );
    let extensions = name_constraints.map(|nc| {
        let critical = tlv(BOOLEAN, &[&[0xff]]);
        let value = tlv(OCTET_STRING, &[&tlv(SEQUENCE, &[nc])]);
        let extension = tlv(
            SEQUENCE,
            &[&tlv(OID, &[OID_NAME_CONSTRAINTS]), &critical, &value],
        );
        tlv(EXTENSIONS, &[&tlv(SEQUENCE, &[&extension])])
    });
    let tbs = tlv(
        SEQUENCE,
        &[
            &tlv(VERSION, &[&tlv(INTEGER, &[&[2]])]),
            &tlv(INTEGER, &[&[1]]),
            &algorithm,
            &name,
            &validity,
            &name,
            &tlv(SEQUENCE, &[spki]),
            extensions.as_deref().unwrap_or_default(),
        ],
    );
    tlv(SEQUENCE, &[&tbs, &algorithm, &tlv(BIT_STRING, &[&[0]])])
}

/// A DER element: `tag`, the definite length in its shortest form, then `parts` end to end.
fn tlv(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let mut out = vec![tag];
    if let Ok(short @ 0..=0x7f) = u8::try_from(len) {
        out.push(short);
    } else {
        let bytes = len.to_be_bytes();
        let significant = &bytes[bytes.iter().take_while(|&&b| b == 0).count()..];
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
    parts.iter().for_each(|p| out.extend_from_slice(p));
    out
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use base64::Engine;

    /// `openssl x509 -req -days 365`: issuer `CN=Example Test CA, O=Example Org`, subject
    /// `CN=leaf.example`, SAN `leaf.example, *.leaf.example, 127.0.0.1`, valid from
    /// 2026-11-21 07:05:43 to 2027-11-21 07:05:43 (both UTCTime).
    pub(crate) const UTC_CERT: &str = "MIIBuzCCAWCgAwIBAgIUWCAiOwDcPAera1zft/A/nERKYlowCgYIKoZIzj0EAwIwMDEYMBYGA1UEAwwPRXhhbXBsZSBUZXN0IENBMRQwEgYDVQQKDAtFeGFtcGxlIE9yZzAeFw0yNjExMjEwNzA1NDNaFw0yNzExMjEwNzA1NDNaMBcxFTATBgNVBAMMDGxlYWYuZXhhbXBsZTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABDstdeh7jd7AMg1Xl2hCyhEKWZZm5ovNmtcXt+dPH5syq+JULRnfaVjvRUoDpY96PX+0j77OEsfU2QyICU9H5s2jcTBvMC0GA1UdEQQmMCSCDGxlYWYuZXhhbXBsZYIOKi5sZWFmLmV4YW1wbGWHBH8AAAEwHQYDVR0OBBYEFPYykFJZKHbNZBdyzReD/vpRZcNpMB8GA1UdIwQYMBaAFKHcGNw/9ZVwfNVrlMZ7EWSlaueuMAoGCCqGSM49BAMCA0kAMEYCIQDvibHnqhBRTmIuTL+iD5LeE5/vh9Vj9k+LK4nauq0bSAIhALQ+lyEvX3LAmhe56vGWYUo8a1ya32KH/ImWzo9skrv+";

    /// The same, `-days 30000`: notAfter 2109-01-10 07:05:43 is a GeneralizedTime.
    pub(crate) const GENERALIZED_CERT: &str = "MIIBvDCCAWKgAwIBAgIUWCAiOwDcPAera1zft/A/nERKYlswCgYIKoZIzj0EAwIwMDEYMBYGA1UEAwwPRXhhbXBsZSBUZXN0IENBMRQwEgYDVQQKDAtFeGFtcGxlIE9yZzAgFw0yNjExMjEwNzA1NDNaGA8yMTA5MDExMDA3MDU0M1owFzEVMBMGA1UEAwwMbGVhZi5leGFtcGxlMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEOy116HuN3sAyDVeXaELKEQpZlmbmi82a1xe3508fmzKr4lQtGd9pWO9FSgOlj3o9f7SPvs4Sx9TZDIgJT0fmzaNxMG8wLQYDVR0RBCYwJIIMbGVhZi5leGFtcGxlgg4qLmxlYWYuZXhhbXBsZYcEfwAAATAdBgNVHQ4EFgQU9jKQUlkods1kF3LNF4P++lFlw2kwHwYDVR0jBBgwFoAUodwY3D/1lXB81WuUxnsRZKVq564wCgYIKoZIzj0EAwIDSAAwRQIgPprBw9PKundvLYpmZ8uT74W5GWw9EX/s2H7Xj9tUUU0CIQD+n1/q6lueHnkNZTtTl/L2QH9YCPx41EDlVTPt1uiyEg==";

    pub(crate) fn der(b64: &str) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap()
    }

    pub(crate) fn at(year: i64, month: i64, day: i64) -> i64 {
        days_from_civil(year, month, day) * 86_400
    }

    #[test]
    fn a_certificate_with_utc_times_is_read() {
        let c = parse(&der(UTC_CERT)).unwrap();
        assert_eq!(c.subject_cn.as_deref(), Some("leaf.example"));
        assert_eq!(c.issuer, "CN=Example Test CA, O=Example Org");
        assert_eq!(c.not_before.to_string(), "2026-11-21 07:05:43 UTC");
        assert_eq!(c.not_after.to_string(), "2027-11-21 07:05:43 UTC");
        assert_eq!(c.names, ["leaf.example", "*.leaf.example", "127.0.0.1"]);
        // `date -u -d '2027-11-21 07:05:43' +%s`
        assert_eq!(c.not_after.unix(), 1_826_780_743);
    }

    #[test]
    fn a_certificate_with_a_generalized_time_is_read() {
        let c = parse(&der(GENERALIZED_CERT)).unwrap();
        assert_eq!(c.not_before.to_string(), "2026-11-21 07:05:43 UTC");
        assert_eq!(c.not_after.to_string(), "2109-01-10 07:05:43 UTC");
        assert_eq!(c.issuer, "CN=Example Test CA, O=Example Org");
    }

    #[test]
    fn lengths_are_written_in_their_shortest_form() {
        assert_eq!(tlv(OCTET_STRING, &[&[7; 127]])[..2], [0x04, 0x7f]);
        assert_eq!(tlv(OCTET_STRING, &[&[7; 128]])[..3], [0x04, 0x81, 0x80]);
        assert_eq!(
            tlv(OCTET_STRING, &[&[7; 200], &[7; 100]])[..4],
            [0x04, 0x82, 0x01, 0x2c]
        );
        assert_eq!(tlv(OCTET_STRING, &[&[7; 300]]).len(), 304);
        assert_eq!(tlv(SEQUENCE, &[]), [0x30, 0x00]);
    }

    #[test]
    fn an_anchor_certificate_reads_as_a_certificate() {
        let cn = tlv(
            SEQUENCE,
            &[&tlv(OID, &[OID_CN]), &tlv(0x0c, &[b"Test Root"])],
        );
        let subject = tlv(SET, &[&cn]);
        // Any SubjectPublicKeyInfo contents will do here: the reader skips them.
        for nc in [
            None,
            Some(&[0xa0, 0x07, 0x30, 0x05, 0x82, 0x03, b'.', b't', b'r'][..]),
        ] {
            let c = parse(&anchor_certificate(
                &subject,
                &[0x30, 0x00, 0x03, 0x01, 0x00],
                nc,
            ))
            .unwrap();
            assert_eq!(c.subject_cn.as_deref(), Some("Test Root"));
            assert_eq!(c.issuer, "CN=Test Root");
            assert_eq!(c.not_before.to_string(), "1970-01-01 00:00:00 UTC");
            assert_eq!(c.not_after.to_string(), "9999-12-31 23:59:59 UTC");
            assert!(c.names.is_empty());
        }
    }

    #[test]
    fn utc_time_years_before_50_are_this_century() {
        let t = |s: &str| time((UTC_TIME, s.as_bytes()));
        assert_eq!(
            t("491231235959Z").unwrap().to_string(),
            "2049-12-31 23:59:59 UTC"
        );
        assert_eq!(
            t("500101000000Z").unwrap().to_string(),
            "1950-01-01 00:00:00 UTC"
        );
        assert_eq!(t("700101000000Z").unwrap().unix(), 0);
        for bad in [
            "491231235959",
            "4912312359590",
            "491331235959Z",
            "49123123595aZ",
        ] {
            assert!(t(bad).is_err(), "{bad}");
        }
        assert!(time((GENERALIZED_TIME, b"20491231235959+0100")).is_err());
        assert!(time((OCTET_STRING, b"491231235959Z")).is_err());
    }

    #[test]
    fn days_are_counted_across_leap_years() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(
            days_from_civil(2024, 12, 31) - days_from_civil(2024, 1, 1),
            365
        );
        assert_eq!(days_from_civil(1969, 12, 31), -1);
    }

    #[test]
    fn summaries_say_who_issued_it_and_when_it_expires() {
        let c = parse(&der(UTC_CERT)).unwrap();
        assert_eq!(
            c.summary(at(2027, 10, 11)),
            "issued by CN=Example Test CA, O=Example Org, for leaf.example, *.leaf.example, \
             127.0.0.1, expires 2027-11-21 07:05:43 UTC (in 41 days)"
        );
        assert!(!c.expired(at(2027, 10, 11)));
        let late = at(2027, 11, 24);
        assert!(c.expired(late));
        assert!(
            c.summary(late)
                .ends_with(", EXPIRED 2027-11-21 07:05:43 UTC (2 days ago)"),
            "{}",
            c.summary(late)
        );
        let early = c.summary(at(2026, 11, 1));
        assert!(
            early.contains("NOT VALID YET: from 2026-11-21 07:05:43 UTC (in 20 days)"),
            "{early}"
        );
    }

    #[test]
    fn summaries_fall_back_to_the_common_name_and_shorten_long_name_lists() {
        let mut c = parse(&der(UTC_CERT)).unwrap();
        c.names.clear();
        let now = at(2027, 11, 21);
        assert_eq!(
            c.summary(now),
            "issued by CN=Example Test CA, O=Example Org, for leaf.example, \
             expires 2027-11-21 07:05:43 UTC (in less than a day)"
        );
        c.names = (1..=6).map(|i| format!("n{i}.example")).collect();
        assert!(c
            .summary(now)
            .contains("for n1.example, n2.example, n3.example, n4.example and 2 more, expires"));
        assert_eq!(
            relative(c.not_after, c.not_after.unix() + 86_400),
            "1 day ago"
        );
    }

    #[test]
    fn names_are_decoded_and_made_safe_to_print() {
        assert_eq!(
            text(0x0c, "Zürich\u{1b}[2J".as_bytes()).unwrap(),
            "Zürich?[2J"
        );
        assert_eq!(text(0x1e, &[0, b'C', 0, b'A']).unwrap(), "CA");
        assert!(text(0x1e, &[0, b'C', 0]).is_err());
        assert_eq!(text(0x14, &[0x5a, 0xfc]).unwrap(), "Zü");
    }

    #[test]
    fn malformed_certificates_are_errors() {
        let good = der(UTC_CERT);
        // Every truncation, and every single corrupted length or tag byte near the start.
        for n in 0..good.len() {
            assert!(parse(&good[..n]).is_err(), "cut at {n}");
        }
        for i in 0..40 {
            let mut bad = good.clone();
            bad[i] ^= 0xff;
            let _ = parse(&bad);
        }
        assert!(parse(b"not a certificate").is_err());
        assert!(parse(&[0x30, 0x80, 0, 0]).is_err());
        assert!(parse(&[0x30, 0x85, 1, 1, 1, 1, 1]).is_err());
        assert!(parse(&[0x1f, 0x01, 0]).is_err());
        assert!(parse(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_err());
    }
}
