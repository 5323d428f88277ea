//! The outbound guard: Herald connects only to public addresses, unless
//! `HERALD_OUTBOUND_ALLOW` allows more, so that whoever may configure a
//! notifier cannot make Herald reach its own network (metadata services,
//! databases, admin endpoints).
//!
//! An address is refused when it is loopback, link-local (169.254.169.254
//! among them), private (RFC 1918, fc00::/7), unspecified, multicast or
//! broadcast, in IPv4 or in IPv6 (IPv4-mapped forms included), unless a CIDR
//! of the allow list holds it or the destination's host name is on the list.
//! Host names are resolved and every address checked, and the connection goes
//! to a checked address, so a name that resolves differently later (DNS
//! rebinding) does not pass: HTTP through [`Guard`] as reqwest's resolver
//! (plus [`Guard::check_url`] for IP-literal URLs, which reqwest does not
//! resolve), SMTP and IRC through [`Guard::resolve`].
//!
//! The guard belongs to one Herald instance ([`Outbound`] carries it with the
//! HTTP clients built around it); nothing here is global. It does not see
//! through an HTTP proxy: with one configured (`HTTPS_PROXY`), the proxy's
//! address is what it checks, and the proxy resolves the destination.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use herald_model::FieldError;
use url::Host;

use crate::{Classify, Disposition};

/// Settings naming where a channel connects, as `Channel::DESTINATIONS` lists
/// them: checked on save, so a forbidden literal address is refused there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// A top-level setting holding an http(s) URL.
    Url(&'static str),
    /// A top-level setting holding a host name or address (SMTP, IRC).
    Host(&'static str),
}

impl Destination {
    pub fn field(self) -> &'static str {
        match self {
            Destination::Url(field) | Destination::Host(field) => field,
        }
    }
}

/// Why an address is not connected to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forbidden {
    Loopback,
    LinkLocal,
    Private,
    Unspecified,
    Multicast,
    Broadcast,
}

impl std::fmt::Display for Forbidden {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Forbidden::Loopback => "loopback",
            Forbidden::LinkLocal => "link-local",
            Forbidden::Private => "private",
            Forbidden::Unspecified => "unspecified",
            Forbidden::Multicast => "multicast",
            Forbidden::Broadcast => "broadcast",
        })
    }
}

/// What kind of forbidden address `ip` is; `None` for a public one.
pub fn forbidden(ip: IpAddr) -> Option<Forbidden> {
    // An IPv4-mapped IPv6 address (::ffff:127.0.0.1) reaches the IPv4 one.
    match ip.to_canonical() {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<Forbidden> {
    // 0.0.0.0/8 is "this network": Linux connects 0.0.0.0 to the host itself.
    if ip.octets()[0] == 0 {
        Some(Forbidden::Unspecified)
    } else if ip.is_loopback() {
        Some(Forbidden::Loopback)
    } else if ip.is_link_local() {
        Some(Forbidden::LinkLocal)
    } else if ip.is_private() {
        Some(Forbidden::Private)
    } else if ip.is_multicast() {
        Some(Forbidden::Multicast)
    } else if ip.is_broadcast() {
        Some(Forbidden::Broadcast)
    } else {
        None
    }
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<Forbidden> {
    let first = ip.segments()[0];
    if ip.is_unspecified() {
        Some(Forbidden::Unspecified)
    } else if ip.is_loopback() {
        Some(Forbidden::Loopback)
    } else if ip.is_unicast_link_local() {
        Some(Forbidden::LinkLocal)
    } else if ip.is_unique_local() || first & 0xffc0 == 0xfec0 {
        // fc00::/7, and fec0::/10 (site-local, deprecated but still routed so).
        Some(Forbidden::Private)
    } else if ip.is_multicast() {
        Some(Forbidden::Multicast)
    } else {
        None
    }
}

/// A destination Herald does not connect to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{}a {kind} address: Herald does not connect to it unless HERALD_OUTBOUND_ALLOW allows it",
    subject(.host, .addr)
)]
pub struct Refusal {
    /// The host as configured: a name, or the address itself.
    pub host: String,
    pub addr: IpAddr,
    pub kind: Forbidden,
}

fn subject(host: &str, addr: &IpAddr) -> String {
    match literal(host) {
        Some(_) => format!("{addr} is "),
        None => format!("{host} resolves to {addr}, "),
    }
}

/// Resolving a destination, for the channels that connect themselves.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("cannot resolve {host}: {source}")]
    Lookup {
        host: String,
        source: std::io::Error,
    },
}

/// A refusal is permanent: the same name resolves the same way next time,
/// and the allow list changes only with a restart. A lookup may pass.
impl Classify for ResolveError {
    fn disposition(&self) -> Disposition {
        match self {
            ResolveError::Refused(_) => Disposition::Permanent,
            ResolveError::Lookup { .. } => Disposition::Retry { after: None },
        }
    }
}

/// An entry of the allow list that is neither a CIDR, an address nor a host
/// name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{entry}`: {why}")]
pub struct BadEntry {
    pub entry: String,
    pub why: &'static str,
}

/// Which destinations are allowed although their address is not public.
/// Cheap to clone; the default allows nothing private.
#[derive(Debug, Clone, Default)]
pub struct Guard(Arc<Allow>);

#[derive(Debug, Default)]
struct Allow {
    nets: Vec<Net>,
    /// Lower case, without a trailing dot.
    hosts: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Net {
    addr: IpAddr,
    prefix: u8,
}

impl Net {
    fn parse(entry: &str) -> Result<Option<Net>, &'static str> {
        let (addr, prefix) = match entry.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (entry, None),
        };
        let Ok(addr) = addr.parse::<IpAddr>() else {
            return match prefix {
                Some(_) => Err("not a CIDR: the part before `/` is not an IP address"),
                None => Ok(None),
            };
        };
        let addr = addr.to_canonical();
        let bits = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(p) => match p.parse::<u8>() {
                Ok(p) if p <= bits => p,
                _ => return Err("not a CIDR: the prefix length is out of range"),
            },
        };
        Ok(Some(Net { addr, prefix }))
    }

    fn contains(self, ip: IpAddr) -> bool {
        let keep = |bits: u32| {
            u128::MAX
                .checked_shl(bits - u32::from(self.prefix))
                .unwrap_or(0)
        };
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = keep(32) as u32;
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = keep(128);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

fn is_host_name(entry: &str) -> bool {
    entry.split('.').all(|label| {
        (1..=63).contains(&label.len())
            && !label.starts_with('-')
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    })
}

/// `host` as an address when it is one: plain (`::1`), bracketed (`[::1]`),
/// or an IPv4 form URLs accept (`0x7f.1`).
fn literal(host: &str) -> Option<IpAddr> {
    host.parse().ok().or_else(|| match Host::parse(host) {
        Ok(Host::Ipv4(ip)) => Some(ip.into()),
        Ok(Host::Ipv6(ip)) => Some(ip.into()),
        _ => None,
    })
}

/// Drops the trailing dot of a fully qualified name.
fn normal(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

impl std::str::FromStr for Guard {
    type Err = BadEntry;

    /// The allow list: comma-separated CIDRs (`10.0.0.0/8`), addresses
    /// (`127.0.0.1`) and host names (`mail.internal`).
    fn from_str(list: &str) -> Result<Guard, BadEntry> {
        let mut allow = Allow::default();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let bad = |why| BadEntry {
                entry: entry.to_owned(),
                why,
            };
            match Net::parse(entry).map_err(bad)? {
                Some(net) => allow.nets.push(net),
                None if is_host_name(entry.trim_end_matches('.')) => {
                    allow.hosts.push(normal(entry));
                }
                None => return Err(bad("neither a CIDR, an IP address nor a host name")),
            }
        }
        Ok(Guard(Arc::new(allow)))
    }
}

impl Guard {
    /// Whether `host`, connected to at `addr`, may be.
    pub fn check(&self, host: &str, addr: IpAddr) -> Result<(), Refusal> {
        let Some(kind) = forbidden(addr) else {
            return Ok(());
        };
        let allowed =
            self.0.nets.iter().any(|n| n.contains(addr)) || self.0.hosts.contains(&normal(host));
        match allowed {
            true => Ok(()),
            false => Err(Refusal {
                host: host.to_owned(),
                addr,
                kind,
            }),
        }
    }

    /// Checks the host of `url` when it is an address; names are checked
    /// when they are resolved.
    pub fn check_url(&self, url: &url::Url) -> Result<(), Refusal> {
        let addr: IpAddr = match url.host() {
            Some(Host::Ipv4(ip)) => ip.into(),
            Some(Host::Ipv6(ip)) => ip.into(),
            Some(Host::Domain(_)) | None => return Ok(()),
        };
        self.check(&addr.to_string(), addr)
    }

    /// Checks a setting's value on save: a forbidden literal address is
    /// refused, naming `field`. Values that do not parse are left to the
    /// channel's own validation.
    pub fn check_setting(&self, destination: Destination, value: &str) -> Result<(), FieldError> {
        let refused = match destination {
            Destination::Url(_) => match url::Url::parse(value) {
                Ok(url) => self.check_url(&url),
                Err(_) => Ok(()),
            },
            Destination::Host(_) => match literal(value) {
                Some(addr) => self.check(value, addr),
                None => Ok(()),
            },
        };
        refused.map_err(|e| FieldError::new(destination.field(), e.to_string()))
    }

    /// The addresses of `host` on `port`, each checked: one forbidden address
    /// refuses them all, as a resolver may answer them in any order.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, ResolveError> {
        let addrs: Vec<SocketAddr> = match literal(host) {
            Some(addr) => vec![SocketAddr::new(addr, port)],
            None => tokio::net::lookup_host((host, port))
                .await
                .map_err(|source| ResolveError::Lookup {
                    host: host.to_owned(),
                    source,
                })?
                .collect(),
        };
        for addr in &addrs {
            self.check(host, addr.ip())?;
        }
        Ok(addrs)
    }
}

/// As reqwest's resolver: every name an HTTP client connects to is resolved
/// and checked here.
impl reqwest::dns::Resolve for Guard {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.clone();
        Box::pin(async move {
            match guard.resolve(name.as_str(), 0).await {
                Ok(addrs) => Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs),
                // The refusal itself, so that the request's error carries it.
                Err(ResolveError::Refused(refusal)) => Err(refusal.into()),
                Err(lookup) => Err(lookup.into()),
            }
        })
    }
}

/// The refusal somewhere in `error`'s causes, when the guard is why it failed.
pub fn refusal_in(error: &(dyn std::error::Error + 'static)) -> Option<Refusal> {
    let mut link = Some(error);
    while let Some(e) = link {
        if let Some(refusal) = e.downcast_ref::<Refusal>() {
            return Some(refusal.clone());
        }
        link = e.source();
    }
    None
}

/// What sends reach the network with, for one Herald instance: its guard and
/// the HTTP clients that resolve through it.
#[derive(Debug, Clone)]
pub struct Outbound {
    guard: Guard,
    http: reqwest::Client,
    unverified: reqwest::Client,
}

impl Outbound {
    pub fn new(guard: Guard) -> Outbound {
        let build = |builder: reqwest::ClientBuilder| {
            builder
                .dns_resolver(guard.clone())
                .build()
                .expect("the TLS backend initialises")
        };
        Outbound {
            http: build(crate::http::builder()),
            unverified: build(crate::http::builder().danger_accept_invalid_certs(true)),
            guard,
        }
    }

    pub fn guard(&self) -> &Guard {
        &self.guard
    }

    /// The HTTP client every channel shares.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// A client that does not check certificates, for the notifiers whose
    /// `tls_verify` is off (a self-signed endpoint on a network the operator
    /// trusts).
    pub fn unverified_http(&self) -> &reqwest::Client {
        &self.unverified
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_classified() {
        use Forbidden::*;
        let cases: &[(&str, Option<Forbidden>)] = &[
            ("127.0.0.1", Some(Loopback)),
            ("127.8.9.10", Some(Loopback)),
            ("::1", Some(Loopback)),
            ("10.1.2.3", Some(Private)),
            ("172.16.0.1", Some(Private)),
            ("172.31.255.255", Some(Private)),
            ("192.168.1.1", Some(Private)),
            ("fc00::1", Some(Private)),
            ("fd12:3456::1", Some(Private)),
            ("fec0::1", Some(Private)),
            ("169.254.169.254", Some(LinkLocal)),
            ("fe80::1", Some(LinkLocal)),
            ("0.0.0.0", Some(Unspecified)),
            ("0.1.2.3", Some(Unspecified)),
            ("::", Some(Unspecified)),
            ("224.0.0.1", Some(Multicast)),
            ("239.255.255.250", Some(Multicast)),
            ("ff02::1", Some(Multicast)),
            ("255.255.255.255", Some(Broadcast)),
            ("::ffff:127.0.0.1", Some(Loopback)),
            ("::ffff:10.0.0.1", Some(Private)),
            ("::ffff:169.254.169.254", Some(LinkLocal)),
            ("8.8.8.8", None),
            ("172.32.0.1", None),
            ("100.64.0.1", None),
            ("2606:4700::1111", None),
            ("::ffff:1.1.1.1", None),
        ];
        for (ip, want) in cases {
            assert_eq!(forbidden(ip.parse().unwrap()), *want, "{ip}");
        }
    }

    #[test]
    fn the_allow_list_takes_cidrs_addresses_and_host_names() {
        let guard: Guard = " 127.0.0.1, 10.0.0.0/8,fd00::/8 , Mail.Internal., "
            .parse()
            .unwrap();
        let ok = |host: &str, ip: &str| guard.check(host, ip.parse().unwrap()).is_ok();
        assert!(ok("127.0.0.1", "127.0.0.1"));
        assert!(ok("localhost", "::ffff:127.0.0.1"));
        assert!(!ok("localhost", "127.0.0.2"));
        assert!(!ok("localhost", "::1"));
        assert!(ok("db", "10.200.0.1"));
        assert!(ok("v6", "fd00::5"));
        assert!(!ok("v6", "fc00::5"));
        assert!(ok("mail.internal", "192.168.0.9"));
        assert!(ok("MAIL.internal.", "192.168.0.9"));
        assert!(!ok("other.internal", "192.168.0.9"));
        assert!(
            Guard::default()
                .check("x", "1.1.1.1".parse().unwrap())
                .is_ok()
        );

        for (list, entry) in [
            ("10.0.0.0/33", "10.0.0.0/33"),
            ("127.0.0.1,fc00::/129", "fc00::/129"),
            ("10.0.0/8", "10.0.0/8"),
            ("a b", "a b"),
            ("http://x/", "http://x/"),
            ("-bad.example", "-bad.example"),
        ] {
            let err = list.parse::<Guard>().unwrap_err();
            assert_eq!(err.entry, entry, "{list}: {err}");
        }
    }

    #[test]
    fn settings_with_a_forbidden_literal_address_are_refused_naming_the_field() {
        let guard = Guard::default();
        let url = Destination::Url("url");
        let host = Destination::Host("host");
        for (destination, value) in [
            (url, "http://127.0.0.1:8080/x"),
            (url, "http://[::1]/"),
            (url, "https://[::ffff:10.0.0.1]/"),
            (url, "http://2130706433/"),
            (url, "http://169.254.169.254/latest/meta-data"),
            (host, "10.0.0.5"),
            (host, "::1"),
            (host, "[fc00::1]"),
            (host, "0x7f.1"),
        ] {
            let err = guard.check_setting(destination, value).unwrap_err();
            assert_eq!(err.field, destination.field(), "{value}");
            assert!(err.message.contains("HERALD_OUTBOUND_ALLOW"), "{err}");
        }
        for (destination, value) in [
            (url, "https://hooks.example.com/x"),
            (url, "http://localhost/"),
            (url, "http://8.8.8.8/"),
            (host, "smtp.example.com"),
            (host, "1.1.1.1"),
        ] {
            assert!(guard.check_setting(destination, value).is_ok(), "{value}");
        }
    }

    #[tokio::test]
    async fn names_are_refused_by_what_they_resolve_to() {
        let refused = Guard::default().resolve("localhost", 25).await.unwrap_err();
        let ResolveError::Refused(refusal) = &refused else {
            panic!("{refused}");
        };
        assert_eq!(refusal.kind, Forbidden::Loopback);
        assert!(
            refused.to_string().starts_with("localhost resolves to "),
            "{refused}"
        );
        assert_eq!(refused.disposition(), Disposition::Permanent);
        let allowed: Guard = "localhost".parse().unwrap();
        let addrs = allowed.resolve("localhost", 25).await.unwrap();
        assert!(addrs.iter().all(|a| a.port() == 25 && a.ip().is_loopback()));
    }

    #[tokio::test]
    async fn http_clients_refuse_names_that_resolve_to_forbidden_addresses() {
        let outbound = Outbound::new(Guard::default());
        let error = outbound
            .http()
            .get("http://localhost:9/")
            .send()
            .await
            .unwrap_err();
        let refusal = refusal_in(&error).expect("the guard's refusal is among the causes");
        assert_eq!(refusal.host, "localhost");
    }
}
