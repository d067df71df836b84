//! The TLS part of a URL: parameters, their checks, files read through a fake
//! reader (no disk), and redaction of what a key file holds.

use std::collections::HashMap;
use std::path::Path;

use super::*;
use crate::error::Error;

const CA: &str = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
const KEY: &str = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleQ==\n-----END PRIVATE KEY-----\n";

fn read(path: &Path) -> std::io::Result<Vec<u8>> {
    files()
        .get(path.to_str().unwrap())
        .map(|s| s.as_bytes().to_vec())
        .ok_or_else(|| std::io::ErrorKind::NotFound.into())
}

#[cfg(feature = "tls")]
fn params(url: &str) -> TlsParams {
    crate::url::parse(url, &read).unwrap_or_else(|e| panic!("{url}: {e}")).tls().clone()
}

/// `part` and `detail` of the error `url` gives (TLS files not read: the checks come first).
fn bad_part(url: &str) -> (&'static str, String) {
    match crate::url::parse(url, &read) {
        Err(Error::BadUrl { part, detail }) => (part, detail),
        other => panic!("{url}: expected BadUrl, got {other:?}"),
    }
}

fn files() -> HashMap<&'static str, &'static str> {
    HashMap::from([
        ("/ca.pem", CA),
        ("/s-ca.pem", CA),
        ("/s ca.pem", CA),
        ("/c.pem", CA),
        ("/k.pem", KEY),
        ("/junk", "junk"),
    ])
}

#[cfg(feature = "tls")]
fn apply(p: &TlsParams) -> Result<Builder> {
    p.apply_with(Builder::default().sentinels(["h:1"]), &read)
}

#[cfg(feature = "tls")]
#[test]
fn the_scheme_and_each_parameter_are_gathered() {
    assert_eq!(params("redis+sentinel://h:1"), TlsParams::default());
    let p = params(
        "REDISS+SENTINEL://h:1/?ca=/ca.pem&cert=/c.pem&key=/k.pem&sentinel_tls=on\
         &sentinel_ca=/s%20ca.pem&sentinel_cert=/c.pem&sentinel_key=/k.pem",
    );
    assert!(p.tls && p.sentinel_uses_tls());
    assert_eq!(p.ca.as_deref(), Some(Path::new("/ca.pem")));
    assert_eq!(p.sentinel_ca.as_deref(), Some(Path::new("/s ca.pem")), "percent-decoded");
    assert_eq!((p.cert.is_some(), p.key.is_some()), (true, true));
    let p = params("redis+sentinel://h:1/?sentinel_tls=on&sentinel_ca=/ca.pem");
    assert!(!p.tls && p.sentinel_uses_tls(), "TLS to the Sentinels only");
    assert!(!params("rediss+sentinel://h:1/?sentinel_tls=off").sentinel_uses_tls());
}

#[test]
fn parameters_that_do_not_apply_are_named() {
    for (url, part) in [
        ("redis+sentinel://h:1/?ca=/ca.pem", "ca"),
        ("redis+sentinel://h:1/?cert=/c.pem&key=/k.pem", "cert"),
        ("rediss+sentinel://h:1/?cert=/c.pem", "key"),
        ("rediss+sentinel://h:1/?key=/k.pem", "cert"),
        ("rediss+sentinel://h:1/?sentinel_key=/k.pem", "sentinel_cert"),
        ("rediss+sentinel://h:1/?sentinel_tls=off&sentinel_ca=/ca.pem", "sentinel_ca"),
        ("redis+sentinel://h:1/?sentinel_ca=/ca.pem", "sentinel_ca"),
        ("rediss+sentinel://h:1/?sentinel_tls=maybe", "sentinel_tls"),
        ("rediss+sentinel://h:1/?ca=/a&ca=/b", "ca"),
        ("rediss+sentinel://h:1/?ca=", "ca"),
    ] {
        assert_eq!(bad_part(url).0, part, "{url}");
    }
    let (_, detail) = bad_part("redis+sentinel://h:1/?ca=/ca.pem");
    assert!(detail.contains("rediss+sentinel://"), "says what to do: {detail}");
    let (part, detail) = bad_part("redis+sentinel://h:1/?tls_ca=/x");
    assert_eq!(part, "query");
    assert!(detail.contains("sentinel_ca"), "lists the TLS parameters too: {detail}");
}

#[cfg(feature = "tls")]
#[test]
fn files_are_read_and_checked_naming_parameter_and_path() {
    let p = TlsParams { tls: true, ca: Some("/ca.pem".into()), ..TlsParams::default() };
    let c = apply(&p).unwrap().build().unwrap();
    let data = c.redis_auth.tls.expect("data-node TLS");
    assert_eq!(data, crate::TlsConfig::new().root_certificates(CA));
    assert_eq!(c.sentinel_auth.tls, Some(data), "the Sentinels share the CA by default");

    let p = TlsParams {
        tls: true,
        ca: Some("/ca.pem".into()),
        cert: Some("/c.pem".into()),
        key: Some("/k.pem".into()),
        sentinel_ca: Some("/s-ca.pem".into()),
        ..TlsParams::default()
    };
    let c = apply(&p).unwrap().build().unwrap();
    let client = crate::TlsConfig::new().root_certificates(CA).client_certificate(CA, KEY);
    assert_eq!(c.redis_auth.tls, Some(client.clone()));
    assert_eq!(c.sentinel_auth.tls, Some(client), "sentinel_ca given, cert and key inherited");

    let off = TlsParams { tls: true, sentinel_tls: Some(false), ..TlsParams::default() };
    let c = apply(&off).unwrap().build().unwrap();
    assert_eq!((c.redis_auth.tls, c.sentinel_auth.tls), (Some(crate::TlsConfig::new()), None));

    for (p, part, path) in [
        (TlsParams { ca: Some("/missing".into()), ..p.clone() }, "ca", "/missing"),
        (TlsParams { ca: Some("/junk".into()), ..p.clone() }, "ca", "/junk"),
        (TlsParams { key: Some("/c.pem".into()), ..p.clone() }, "key", "/c.pem"),
        (TlsParams { sentinel_ca: Some("/k.pem".into()), ..p.clone() }, "sentinel_ca", "/k.pem"),
    ] {
        match apply(&p) {
            Err(Error::BadUrl { part: got, detail }) => {
                assert_eq!(got, part, "{detail}");
                assert!(detail.contains(path), "names the path: {detail}");
                assert!(!detail.contains("c2VjcmV0"), "never the key: {detail}");
            }
            other => panic!("{p:?}: expected BadUrl, got {other:?}"),
        }
    }
}

#[cfg(not(feature = "tls"))]
#[test]
fn without_the_feature_tls_is_a_typed_error() {
    let (part, detail) = bad_part("rediss+sentinel://h:1");
    assert_eq!(part, "scheme");
    assert!(detail.contains("`tls` cargo feature"), "{detail}");
    assert_eq!(bad_part("redis+sentinel://h:1/?sentinel_tls=on").0, "sentinel_tls");
}

#[test]
fn flags_override_a_url() {
    let url =
        TlsParams { tls: true, ca: Some("/a".into()), sentinel_tls: Some(false), ..TlsParams::default() };
    let flags = TlsParams { ca: Some("/b".into()), cert: Some("/c".into()), ..TlsParams::default() };
    let merged = url.overridden_by(&flags);
    assert!(merged.tls);
    assert_eq!(
        (merged.ca.as_deref(), merged.cert.as_deref()),
        (Some(Path::new("/b")), Some(Path::new("/c")))
    );
    assert_eq!(merged.sentinel_tls, Some(false), "kept where the flags say nothing");
}
