//! Properties of address parsing: [`NodeAddr::parse`] and [`NodeAddr::from_parts`],
//! and what a parsed address promises (also checked on the addresses the
//! Sentinel reply parsers return).

use std::net::Ipv6Addr;

use proptest::prelude::*;

use crate::addr::NodeAddr;
use crate::error::Error;
use crate::prop::{chars, config, re};

/// Everything a successfully parsed address promises.
pub(crate) fn check_well_formed(a: &NodeAddr) -> Result<(), TestCaseError> {
    prop_assert!(!a.host().is_empty(), "empty host in {a:?}");
    prop_assert_ne!(a.port(), 0);
    prop_assert!(
        !a.host().bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b == b'/' || b == b'@'),
        "forbidden byte in host {:?}",
        a.host()
    );
    if a.host().contains(':') {
        prop_assert!(a.host().parse::<Ipv6Addr>().is_ok(), "host with ':' is not IPv6: {:?}", a.host());
    }
    // Display -> parse gives the same value back.
    let shown = a.to_string();
    match NodeAddr::parse(&shown) {
        Ok(b) => prop_assert_eq!(&b, a, "{:?} did not round-trip", shown),
        Err(e) => prop_assert!(false, "{a:?} displays as {shown:?}, which does not parse: {e}"),
    }
    Ok(())
}

/// Strings built from the pieces address parsing cares about, so brackets,
/// colons, IPv6 literals and odd ports meet far more often than in random text.
fn addr_like() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just(":".to_owned()),
        Just("::".to_owned()),
        Just("::1".to_owned()),
        Just("127.0.0.1".to_owned()),
        Just("fe80::1%eth0".to_owned()),
        Just("::ffff:1.2.3.4".to_owned()),
        Just("localhost".to_owned()),
        Just("0".to_owned()),
        Just("65535".to_owned()),
        Just("65536".to_owned()),
        Just("99999999999999999999999".to_owned()),
        Just("-1".to_owned()),
        Just("+1".to_owned()),
        Just(" ".to_owned()),
        Just("\t".to_owned()),
        Just("\n".to_owned()),
        Just("\0".to_owned()),
        Just("@".to_owned()),
        Just("/".to_owned()),
        Just("é".to_owned()),
        Just("٣".to_owned()), // a non-ASCII digit
        Just("\u{202e}".to_owned()),
        Just("🦀".to_owned()),
        re("[0-9]{1,6}"),
        re("[a-z.-]{1,8}"),
        any::<Ipv6Addr>().prop_map(|ip| ip.to_string()),
    ];
    prop::collection::vec(piece, 0..8).prop_map(|parts| parts.concat())
}

fn any_addr_string() -> impl Strategy<Value = String> {
    prop_oneof![chars(40), addr_like()]
}

proptest! {
    #![proptest_config(config())]

    /// `parse` never panics; `Ok` is well-formed and round-trips through
    /// `Display`; `Err` is a `Config` error that echoes the input.
    #[test]
    fn addr_parse_total_and_round_trips(s in any_addr_string()) {
        match NodeAddr::parse(&s) {
            Ok(a) => check_well_formed(&a)?,
            Err(Error::Config { field, value, .. }) => {
                prop_assert_eq!(field, "address");
                prop_assert_eq!(value, s);
            }
            Err(other) => prop_assert!(false, "{s:?}: unexpected error kind {other:?}"),
        }
    }

    /// `from_parts` never panics; `Ok` keeps the host as given, its port is the
    /// port text's number, and it round-trips.
    #[test]
    fn addr_from_parts_total_and_round_trips(host in any_addr_string(), port in any_addr_string()) {
        if let Ok(a) = NodeAddr::from_parts(&host, &port) {
            check_well_formed(&a)?;
            prop_assert_eq!(a.host(), host.as_str());
            prop_assert_eq!(port.parse::<u16>().ok(), Some(a.port()));
        }
    }

    /// Any IPv6 literal, in brackets, parses and displays with its brackets; the
    /// same through `from_parts` without brackets.
    #[test]
    fn bracketed_ipv6_keeps_its_brackets(ip in any::<Ipv6Addr>(), port in 1u16..) {
        let text = format!("[{ip}]:{port}");
        let a = NodeAddr::parse(&text).map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        prop_assert_eq!(a.host().parse::<Ipv6Addr>().ok(), Some(ip));
        prop_assert_eq!(a.port(), port);
        prop_assert_eq!(a.to_string(), text.clone());
        let b = NodeAddr::from_parts(&ip.to_string(), &port.to_string())
            .map_err(|e| TestCaseError::fail(format!("from_parts {ip} {port}: {e}")))?;
        prop_assert_eq!(b, a);
        // The same address without brackets is refused (ambiguous).
        let bare = format!("{ip}:{port}");
        prop_assert!(NodeAddr::parse(&bare).is_err(), "{:?} parsed", bare);
    }

    /// Valid host names and IPv4 addresses with any port 1..=65535 parse to themselves.
    #[test]
    fn plain_hosts_parse_to_themselves(host in re("[a-z0-9][a-z0-9.-]{0,30}"), port in 1u16..) {
        let text = format!("{host}:{port}");
        let a = NodeAddr::parse(&text).map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        prop_assert_eq!((a.host(), a.port()), (host.as_str(), port));
        prop_assert_eq!(a.to_string(), text);
    }
}
