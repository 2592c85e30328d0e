//! The cookie jar: cookies the MCP server sets are kept in memory, per origin, and sent back on
//! later MCP requests to that origin, so a load balancer's stickiness cookie (AWS ALB's
//! `AWSALB`, for one) keeps a session on the node that holds it. As in the npm package, this is
//! not a browser's store: `Domain` is ignored (a cookie goes back only to the origin that set
//! it), and so are `Secure`, `HttpOnly` and `SameSite`. `Path` is ignored too (the npm package
//! honours it): MCP traffic is one URL, and the legacy endpoint is on its origin. Expiry is
//! honoured: `Max-Age=0` or an `Expires` in the past removes a cookie. Cookies are never written
//! to disk, and their values are never logged. Pure, no I/O: the caller passes the time.

/// The most cookies kept, over all origins: a server cannot grow memory without bound.
const MAX_COOKIES: usize = 50;
/// The largest cookie kept (name and value): browsers keep no larger ones either.
const MAX_COOKIE_BYTES: usize = 4096;
/// The most bytes of cookies kept for one origin. They all go into one `Cookie` header, which
/// must fit ureq's 16 KiB request-head buffer beside the other headers (and many servers refuse
/// a header line over 8 KiB).
const MAX_ORIGIN_BYTES: usize = 8192;

/// One `Set-Cookie` header, read as RFC 6265 section 5.2 says. No `Debug`: it holds a value.
pub struct SetCookie<'a> {
    pub name: &'a str,
    pub value: &'a str,
    /// When it expires, in Unix seconds; `None` for a cookie that lasts the session.
    pub expires: Option<i64>,
    /// The server removes the cookie: its expiry (`Max-Age<=0`, `Expires` past) has passed.
    pub remove: bool,
}

/// Reads one `Set-Cookie` header value at Unix time `now`; `None` when it names no cookie.
/// `Max-Age` wins over `Expires`; an attribute that cannot be read is ignored.
pub fn parse(line: &str, now: i64) -> Option<SetCookie<'_>> {
    let mut parts = line.split(';');
    let (name, value) = parts.next()?.split_once('=')?;
    let (name, value) = (name.trim(), value.trim());
    if name.is_empty() {
        return None;
    }
    let (mut max_age, mut expires) = (None, None);
    for attr in parts {
        let (key, val) = attr.split_once('=').unwrap_or((attr, ""));
        let (key, val) = (key.trim(), val.trim());
        if key.eq_ignore_ascii_case("max-age") {
            max_age = delta_seconds(val).or(max_age);
        } else if key.eq_ignore_ascii_case("expires") {
            expires = cookie_date(val).or(expires);
        }
    }
    let expires = match max_age {
        Some(secs) if secs <= 0 => Some(i64::MIN),
        Some(secs) => Some(now.saturating_add(secs)),
        None => expires,
    };
    Some(SetCookie {
        name,
        value,
        expires,
        remove: expires.is_some_and(|t| t <= now),
    })
}

/// A `Max-Age` value: an optional `-` then digits (RFC 6265 5.2.2); a huge one saturates.
fn delta_seconds(v: &str) -> Option<i64> {
    let (negative, digits) = match v.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, v),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if negative {
        return Some(-1);
    }
    Some(digits.parse::<i64>().unwrap_or(i64::MAX))
}

/// An `Expires` date in Unix seconds, read leniently as RFC 6265 5.1.1 says, so the RFC 1123,
/// RFC 850 and asctime forms all work (`Wed, 21 Oct 2015 07:28:00 GMT`).
fn cookie_date(v: &str) -> Option<i64> {
    let (mut time, mut day, mut month, mut year) = (None, None, None, None);
    for token in v
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == ':'))
        .filter(|t| !t.is_empty())
    {
        // The first token of each kind fills its slot; the rest are ignored.
        let _ = fill(&mut time, || clock(token))
            || fill(&mut day, || leading_number(token, 1, 2))
            || fill(&mut month, || month_of(token))
            || fill(&mut year, || leading_number(token, 2, 4));
    }
    let ((h, m, s), day, month, year) = (time?, day?, month?, year?);
    let year = match year {
        70..=99 => year + 1900,
        0..=69 => year + 2000,
        y => y,
    };
    if !(1..=31).contains(&day) || year < 1601 || h > 23 || m > 59 || s > 59 {
        return None;
    }
    Some(crate::x509::days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s)
}

/// Fills an empty `slot` with what `read` finds; whether it did.
fn fill<T>(slot: &mut Option<T>, read: impl FnOnce() -> Option<T>) -> bool {
    if slot.is_none() {
        *slot = read();
        slot.is_some()
    } else {
        false
    }
}

/// `hh:mm:ss` (one or two digits each), as the start of `token`.
fn clock(token: &str) -> Option<(i64, i64, i64)> {
    let mut it = token.splitn(3, ':');
    let h = leading_number(it.next()?, 1, 2)?;
    let m = leading_number(it.next()?, 1, 2)?;
    let s = leading_number(it.next()?, 1, 2)?;
    Some((h, m, s))
}

/// The number `token` starts with, when it has `min..=max` digits.
fn leading_number(token: &str, min: usize, max: usize) -> Option<i64> {
    let n = token.bytes().take_while(u8::is_ascii_digit).count();
    if n < min || n > max {
        return None;
    }
    token.get(..n)?.parse().ok()
}

/// A month from a token starting with its English three-letter name.
fn month_of(token: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let start = token.get(..3)?;
    MONTHS
        .iter()
        .position(|m| start.eq_ignore_ascii_case(m))
        .map(|i| i as i64 + 1)
}

/// The cookies kept, oldest first. No `Debug`: values are secrets for logging purposes.
#[derive(Default)]
pub struct Jar {
    cookies: Vec<Cookie>,
}

struct Cookie {
    origin: String,
    name: String,
    value: String,
    expires: Option<i64>,
}

impl Cookie {
    fn size(&self) -> usize {
        self.name.len() + self.value.len()
    }
}

/// What [`Jar::store`] did with one response's cookies, by name only (for the debug log).
#[derive(Debug, Default, PartialEq)]
pub struct Stored {
    pub kept: Vec<String>,
    pub removed: Vec<String>,
    /// Too large to keep.
    pub refused: Vec<String>,
}

impl Jar {
    /// Records the `Set-Cookie` header values of one response from `origin`. A cookie replaces
    /// the one of the same name; past the limits, the oldest cookies make room.
    pub fn store<'a>(
        &mut self,
        origin: &str,
        lines: impl IntoIterator<Item = &'a str>,
        now: i64,
    ) -> Stored {
        let mut done = Stored::default();
        for line in lines {
            let Some(c) = parse(line, now) else {
                continue;
            };
            self.cookies
                .retain(|k| !(k.origin == origin && k.name == c.name));
            if c.remove {
                done.removed.push(c.name.to_string());
                continue;
            }
            let cookie = Cookie {
                origin: origin.to_string(),
                name: c.name.to_string(),
                value: c.value.to_string(),
                expires: c.expires,
            };
            if cookie.size() > MAX_COOKIE_BYTES {
                done.refused.push(cookie.name);
                continue;
            }
            while self.cookies.len() >= MAX_COOKIES
                || self.origin_bytes(origin) + cookie.size() > MAX_ORIGIN_BYTES
            {
                let oldest = self
                    .cookies
                    .iter()
                    .position(|k| self.cookies.len() >= MAX_COOKIES || k.origin == origin);
                match oldest {
                    Some(i) => drop(self.cookies.remove(i)),
                    None => break,
                }
            }
            done.kept.push(cookie.name.clone());
            self.cookies.push(cookie);
        }
        done
    }

    fn origin_bytes(&self, origin: &str) -> usize {
        self.cookies
            .iter()
            .filter(|k| k.origin == origin)
            .map(Cookie::size)
            .sum()
    }

    /// The `Cookie` header value for a request to `origin` at `now`, if it has cookies; expired
    /// ones are dropped.
    pub fn header(&mut self, origin: &str, now: i64) -> Option<String> {
        self.cookies.retain(|k| k.expires.is_none_or(|t| t > now));
        let pairs: Vec<String> = self
            .cookies
            .iter()
            .filter(|k| k.origin == origin)
            .map(|k| format!("{}={}", k.name, k.value))
            .collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2015-10-21 07:28:00 UTC.
    const T: i64 = 1_445_412_480;

    /// What `parse` found, owned: (name, value, expires, remove).
    fn p(line: &str, now: i64) -> Option<(String, String, Option<i64>, bool)> {
        parse(line, now).map(|c| (c.name.into(), c.value.into(), c.expires, c.remove))
    }

    fn cookie(
        name: &str,
        value: &str,
        expires: Option<i64>,
        remove: bool,
    ) -> Option<(String, String, Option<i64>, bool)> {
        Some((name.into(), value.into(), expires, remove))
    }

    #[test]
    fn reads_name_value_and_ignores_what_does_not_matter_here() {
        assert_eq!(
            p(
                "AWSALB=abc/def+==; Path=/; Domain=other.example; Secure; HttpOnly",
                T
            ),
            cookie("AWSALB", "abc/def+==", None, false)
        );
        assert_eq!(p(" a = 1 ", T), cookie("a", "1", None, false));
        assert_eq!(p("a=", T), cookie("a", "", None, false));
        assert_eq!(p("q=\"x y\"", T), cookie("q", "\"x y\"", None, false));
        for bad in ["", "novalue", "=1", " =1; Path=/", ";a=1"] {
            assert_eq!(p(bad, T), None, "{bad:?}");
        }
    }

    #[test]
    fn max_age_sets_or_ends_the_lifetime() {
        assert_eq!(
            p("a=1; Max-Age=60", T),
            cookie("a", "1", Some(T + 60), false)
        );
        assert!(p("a=; Max-Age=0", T).unwrap().3);
        assert!(p("a=1; max-age=-5", T).unwrap().3);
        // Huge saturates; junk is ignored.
        assert_eq!(
            p("a=1; Max-Age=99999999999999999999999", T).unwrap().2,
            Some(i64::MAX)
        );
        for junk in [
            "a=1; Max-Age=",
            "a=1; Max-Age=1e3",
            "a=1; Max-Age=+5",
            "a=1; Max-Age",
        ] {
            assert_eq!(p(junk, T).unwrap().2, None, "{junk}");
        }
    }

    #[test]
    fn expires_in_the_past_removes_and_max_age_wins() {
        let past = "a=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT";
        assert_eq!(p(past, T), cookie("a", "1", Some(0), true));
        let future = "a=1; expires=Wed, 21 Oct 2015 07:28:01 GMT";
        assert_eq!(p(future, T), cookie("a", "1", Some(T + 1), false));
        // The moment itself has passed.
        assert!(
            p("a=1; Expires=Wed, 21 Oct 2015 07:28:00 GMT", T)
                .unwrap()
                .3
        );
        assert!(!parse(&format!("{past}; Max-Age=10"), T).unwrap().remove);
        assert!(
            p("a=1; Max-Age=0; Expires=Wed, 21 Oct 2099 07:28:00 GMT", T)
                .unwrap()
                .3
        );
        // An unreadable date is no date.
        assert_eq!(p("a=1; Expires=soon", T).unwrap().2, None);
    }

    #[test]
    fn cookie_dates_in_every_common_form() {
        for form in [
            "Wed, 21 Oct 2015 07:28:00 GMT",
            "Wednesday, 21-Oct-15 07:28:00 GMT",
            "Wed Oct 21 07:28:00 2015",
            "21 october 2015 7:28:0",
        ] {
            assert_eq!(cookie_date(form), Some(T), "{form}");
        }
        assert_eq!(cookie_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        for bad in [
            "",
            "Wed, 21 Oct 2015",
            "Wed, 32 Oct 2015 07:28:00 GMT",
            "Wed, 21 Oct 2015 24:00:00 GMT",
            "Wed, 21 Foo 2015 07:28:00 GMT",
            "Wed, 21 Oct 1600 07:28:00 GMT",
        ] {
            assert_eq!(cookie_date(bad), None, "{bad}");
        }
    }

    const O: &str = "https://mcp.example";

    #[test]
    fn jar_replaces_removes_and_keeps_origins_apart() {
        let mut jar = Jar::default();
        let s = jar.store(O, ["a=1", "b=2; Max-Age=10", "c=3"], T);
        assert_eq!(s.kept, ["a", "b", "c"]);
        assert_eq!(jar.header(O, T).as_deref(), Some("a=1; b=2; c=3"));
        assert_eq!(jar.header("https://other.example", T), None);
        let s = jar.store(O, ["a=9", "c=; Max-Age=0", "junk"], T);
        assert_eq!(
            (s.kept, s.removed),
            (vec!["a".to_string()], vec!["c".to_string()])
        );
        assert_eq!(jar.header(O, T).as_deref(), Some("b=2; a=9"));
        // b expires.
        assert_eq!(jar.header(O, T + 10).as_deref(), Some("a=9"));
        jar.store(O, ["a=; Expires=Thu, 01 Jan 1970 00:00:00 GMT"], T);
        assert_eq!(jar.header(O, T), None);
    }

    #[test]
    fn jar_is_bounded() {
        let mut jar = Jar::default();
        let names: Vec<String> = (0..60).map(|i| format!("n{i}=v")).collect();
        jar.store(O, names.iter().map(String::as_str), T);
        let h = jar.header(O, T).unwrap_or_default();
        assert_eq!(h.split("; ").count(), MAX_COOKIES);
        assert!(h.starts_with("n10=v; ") && h.ends_with("; n59=v"), "{h}");

        let big = format!("big={}", "x".repeat(MAX_COOKIE_BYTES));
        let s = jar.store(O, [big.as_str()], T);
        assert_eq!(s.refused, ["big"]);

        let mut jar = Jar::default();
        let third = format!("v={}", "x".repeat(3000));
        let lines = ["a", "b", "c"].map(|n| third.replace("v=", &format!("{n}=")));
        jar.store(O, lines.iter().map(String::as_str), T);
        jar.store("https://other.example", ["o=1"], T);
        let h = jar.header(O, T).unwrap_or_default();
        assert!(h.starts_with("b=x") && h.contains("; c=x") && h.len() <= MAX_ORIGIN_BYTES);
        assert_eq!(
            jar.header("https://other.example", T).as_deref(),
            Some("o=1")
        );
    }
}
