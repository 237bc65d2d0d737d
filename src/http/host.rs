//! The `Host` check: a browser tricked by DNS rebinding sends requests for an attacker's host
//! name to this server's address, so a request is answered only when its `Host` names the
//! server. The allowed names are `[server] allowed_hosts` when set (`"*"` allows any), else
//! the bound address and `localhost` (with any port); a server bound to every interface
//! (`0.0.0.0`, `::`) with no list accepts any host and says so at start-up.

use std::net::{IpAddr, SocketAddr};

/// Which `Host` values the server answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPolicy {
    /// Any host (no list and an unspecified bind address, or `"*"` in the list).
    Any,
    /// Host names (lowercase, without brackets), each with an optional required port.
    Only(Vec<(String, Option<u16>)>),
}

/// Splits `host[:port]` (`[v6]:port` too) into a lowercase name without brackets and a port.
fn split(value: &str) -> Option<(String, Option<u16>)> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    let (name, port) = if let Some(rest) = v.strip_prefix('[') {
        let (name, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if after.is_empty() => None,
            None => return None,
        };
        (name, port)
    } else {
        match v.rsplit_once(':') {
            // More than one colon without brackets: a bare IPv6 address.
            Some((n, _)) if n.contains(':') => (v, None),
            Some((n, p)) => (n, Some(p.parse().ok()?)),
            None => (v, None),
        }
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    (!name.is_empty()).then_some((name, port))
}

impl HostPolicy {
    /// The policy for a server bound to `bound` with `[server] allowed_hosts` = `configured`.
    /// An entry that is not a valid `host[:port]` is an error naming it.
    pub fn new(bound: SocketAddr, configured: &[String]) -> Result<HostPolicy, String> {
        if configured.iter().any(|h| h.trim() == "*") {
            return Ok(HostPolicy::Any);
        }
        if !configured.is_empty() {
            let mut out = Vec::new();
            for h in configured {
                out.push(split(h).ok_or_else(|| {
                    format!("[server] allowed_hosts: {h:?} is not a host name or host:port")
                })?);
            }
            return Ok(HostPolicy::Only(out));
        }
        if bound.ip().is_unspecified() {
            return Ok(HostPolicy::Any);
        }
        let mut names = vec![("localhost".to_string(), None)];
        let ip = bound.ip().to_string();
        names.push((ip, None));
        if bound.ip().is_loopback() {
            for l in ["127.0.0.1", "::1"] {
                if !names.iter().any(|(n, _)| n == l) {
                    names.push((l.to_string(), None));
                }
            }
        }
        Ok(HostPolicy::Only(names))
    }

    /// Whether a request with this `Host` header (or none: HTTP/1.0, or a test client) is
    /// answered.
    pub fn allows(&self, host: Option<&str>) -> bool {
        let HostPolicy::Only(names) = self else {
            return true;
        };
        let Some(host) = host else {
            return true;
        };
        let Some((name, port)) = split(host) else {
            return false;
        };
        // An IP literal compares as an address (`0:0::1` is `::1`).
        let same = |allowed: &str| match (allowed.parse::<IpAddr>(), name.parse::<IpAddr>()) {
            (Ok(a), Ok(b)) => a == b,
            _ => allowed == name,
        };
        names
            .iter()
            .any(|(n, p)| same(n) && (p.is_none() || *p == port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn loopback_default_allows_local_names_only() {
        let p = HostPolicy::new(addr("127.0.0.1:8080"), &[]).unwrap();
        for ok in [
            "localhost:8080",
            "LOCALHOST",
            "127.0.0.1:8080",
            "[::1]:8080",
            "localhost.",
        ] {
            assert!(p.allows(Some(ok)), "{ok}");
        }
        assert!(p.allows(None));
        for bad in [
            "evil.example",
            "evil.example:8080",
            "127.0.0.1.evil.example",
            "",
            "[::1",
        ] {
            assert!(!p.allows(Some(bad)), "{bad}");
        }
    }

    #[test]
    fn configured_list_and_unspecified_binds() {
        let p = HostPolicy::new(
            addr("0.0.0.0:80"),
            &["Papers.Example.org".into(), "api.example.org:8443".into()],
        )
        .unwrap();
        assert!(p.allows(Some("papers.example.org")));
        assert!(p.allows(Some("papers.example.org:80")));
        assert!(p.allows(Some("api.example.org:8443")));
        assert!(!p.allows(Some("api.example.org:80")));
        assert!(!p.allows(Some("localhost")));
        assert_eq!(
            HostPolicy::new(addr("0.0.0.0:80"), &[]).unwrap(),
            HostPolicy::Any
        );
        assert_eq!(
            HostPolicy::new(addr("127.0.0.1:80"), &["*".into()]).unwrap(),
            HostPolicy::Any
        );
        assert!(HostPolicy::new(addr("127.0.0.1:80"), &["x:notaport".into()]).is_err());
        let v6 = HostPolicy::new(addr("[::1]:8080"), &[]).unwrap();
        assert!(v6.allows(Some("[::1]:8080")) && v6.allows(Some("127.0.0.1")));
    }
}
