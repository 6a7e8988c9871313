//! The library server's address as a person types it on the sign-in screen or after
//! `shelfmark login --server`: without a scheme it means HTTPS (a library's server speaks TLS);
//! plain HTTP is taken as asked, and said to be unencrypted unless the server is this machine
//! (a loopback address: the demo, a test, a TLS-terminating proxy on the same host).

use serde::Serialize;

/// A server address the client may use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ServerAddress {
    /// The address with its scheme (`https://` added when none was typed).
    pub url: String,
    /// Plain HTTP to another machine: passwords, tokens and patrons' details would cross the
    /// network in clear.
    pub unencrypted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("type the library server's address, for example https://library.example.org")]
    Empty,
    #[error("{0}: a server address starts with https:// (or http://)")]
    Scheme(String),
    #[error("{0}: the address names no server")]
    NoHost(String),
}

/// Reads a typed server address.
pub fn server_address(typed: &str) -> Result<ServerAddress, AddressError> {
    let typed = typed.trim();
    if typed.is_empty() {
        return Err(AddressError::Empty);
    }
    let url = match typed.split_once("://") {
        Some((scheme, _)) if scheme.eq_ignore_ascii_case("https") => typed.to_owned(),
        Some((scheme, _)) if scheme.eq_ignore_ascii_case("http") => typed.to_owned(),
        Some(_) => return Err(AddressError::Scheme(typed.to_owned())),
        None => format!("https://{typed}"),
    };
    let (scheme, rest) = url.split_once("://").unwrap_or(("https", &url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host_port.split(':').next().unwrap_or_default(),
    };
    if host.is_empty() {
        return Err(AddressError::NoHost(typed.to_owned()));
    }
    Ok(ServerAddress {
        unencrypted: scheme.eq_ignore_ascii_case("http") && !is_loopback(host),
        url,
    })
}

/// This machine: `localhost`, 127.0.0.0/8, `::1` (`core::net` holds only the address types,
/// no sockets).
fn is_loopback(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost"
        || host.ends_with(".localhost")
        || host == "::1"
        || host
            .parse::<core::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_without_a_scheme_means_https_and_http_is_unencrypted_unless_it_is_this_machine() {
        let cases = [
            ("library.example.org", "https://library.example.org", false),
            (
                "  library.example.org:8443/ ",
                "https://library.example.org:8443/",
                false,
            ),
            (
                "https://library.example.org",
                "https://library.example.org",
                false,
            ),
            (
                "HTTP://library.example.org",
                "HTTP://library.example.org",
                true,
            ),
            ("http://10.0.0.5:8080", "http://10.0.0.5:8080", true),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080", false),
            ("http://127.8.9.10", "http://127.8.9.10", false),
            ("http://localhost:8080/", "http://localhost:8080/", false),
            ("http://[::1]:8080", "http://[::1]:8080", false),
            ("http://[fe80::1]:8080", "http://[fe80::1]:8080", true),
            ("http://admin@localhost", "http://admin@localhost", false),
            (
                "http://127.0.0.1.example.org",
                "http://127.0.0.1.example.org",
                true,
            ),
        ];
        for (typed, url, unencrypted) in cases {
            assert_eq!(
                server_address(typed),
                Ok(ServerAddress {
                    url: url.into(),
                    unencrypted
                }),
                "{typed}"
            );
        }
    }

    #[test]
    fn an_empty_address_another_scheme_or_no_host_is_refused_with_what_to_type() {
        assert_eq!(server_address("  "), Err(AddressError::Empty));
        assert!(matches!(
            server_address("ftp://library.example.org"),
            Err(AddressError::Scheme(_))
        ));
        assert!(matches!(
            server_address("https:///catalogue"),
            Err(AddressError::NoHost(_))
        ));
        assert!(
            AddressError::Empty
                .to_string()
                .contains("https://library.example.org")
        );
    }
}
