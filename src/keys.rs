//! TEMPORARY compile stub; replaced by the real table.
#![allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CommandInfo {
    pub name: &'static str,
    pub read_only: bool,
    pub idempotent: bool,
    pub blocking: bool,
    pub keyless: bool,
}
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyError {
    Unknown(String),
    Malformed { command: &'static str, detail: String },
}
pub(crate) fn visit_keys<'a>(
    args: &[&'a [u8]],
    mut visit: impl FnMut(&'a [u8]),
) -> Result<CommandInfo, KeyError> {
    let name = args.first().ok_or(KeyError::Malformed {
        command: "",
        detail: "empty".into(),
    })?;
    let (n, ro) = if name.eq_ignore_ascii_case(b"GET") {
        ("GET", true)
    } else if name.eq_ignore_ascii_case(b"SET") {
        ("SET", false)
    } else {
        return Err(KeyError::Unknown(String::from_utf8_lossy(name).into()));
    };
    if let Some(k) = args.get(1) {
        visit(k)
    }
    Ok(CommandInfo {
        name: n,
        read_only: ro,
        idempotent: true,
        blocking: false,
        keyless: false,
    })
}
