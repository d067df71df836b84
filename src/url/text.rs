//! The text of a URL's parts: `%XX` decoding, what an error may show, and
//! scrubbing passwords out of error text. Pure.

use crate::error::Error;

/// Decodes `%XX` escapes; `None` for a malformed escape or a result that is not UTF-8.
pub(super) fn decode(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).filter(|h| h.iter().all(u8::is_ascii_hexdigit))?;
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Text that may be shown in an error: short and made of harmless characters.
pub(super) fn showable(s: &str) -> bool {
    s.len() <= 40 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-._".contains(&b))
}

/// Every password in `url` as written and decoded, found without the full parse,
/// so even an error from a confused parse can be scrubbed of them.
pub(super) fn secrets_in(url: &str) -> Vec<String> {
    let mut raw = Vec::new();
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    if let Some((_, pass)) = authority.rsplit_once('@').and_then(|(ui, _)| ui.split_once(':')) {
        raw.push(pass.to_owned());
    }
    for segment in url.split(['?', '&', '#']) {
        if let Some(value) = segment.strip_prefix("sentinel_password=") {
            raw.push(value.to_owned());
        }
    }
    let decoded: Vec<String> = raw.iter().filter_map(|r| decode(r)).collect();
    raw.into_iter().chain(decoded).filter(|s| !s.is_empty()).collect()
}

pub(super) fn redact(e: Error, secrets: &[String]) -> Error {
    match e {
        Error::BadUrl { part, mut detail } => {
            for s in secrets {
                detail = detail.replace(s.as_str(), "<redacted>");
            }
            Error::BadUrl { part, detail }
        }
        other => other,
    }
}
