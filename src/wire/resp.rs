//! RESP2 and RESP3 replies decoded from bytes into [`redis::Value`]s, one frame
//! at a time, without I/O: the read side of a connection calls [`decode`] on
//! what it has read so far and gets either a whole reply and how many bytes it
//! took, or how many bytes it needs at least before trying again.
//!
//! Why our own and not redis-rs's `ValueCodec`: that one is `#[doc(hidden)]`
//! ("harness-only", not a stable API) and built on `combine`'s partial parsing,
//! slower than a plain recursive descent over a complete buffer. Why not the
//! `redis-protocol` crate: its frames are another type, converted into
//! `redis::Value` by a second pass that allocates every aggregate twice.
//!
//! The values are exactly redis-rs's (its parser is the reference in the
//! property tests, `resp/prop.rs`): `+OK` is [`Value::Okay`], a negative
//! length is [`Value::Nil`], errors are [`Value::ServerError`] (built by
//! redis-rs's own parser from the error line, so their kind and code are
//! redis-rs's), a push's first element names its [`PushKind`]. Nesting deeper
//! than [`MAX_DEPTH`] is a protocol error, as in redis-rs.
//!
//! Re-reading an incomplete frame from its start is what makes a decoder of
//! this kind quadratic on a large reply arriving in pieces; [`Decoded::Need`]
//! says how long the buffer must be before a new try can get further (the
//! whole of a bulk string once its header is read), so a 64 MiB value is
//! parsed once, not once per read.

use redis::{PushKind, Value, VerbatimFormat};

/// How deep aggregates may nest (redis-rs's limit).
pub(crate) const MAX_DEPTH: usize = 100;

/// What [`decode`] found at the start of a buffer.
#[derive(Debug, PartialEq)]
pub(crate) enum Decoded {
    /// A whole reply, and how many bytes of the buffer it took.
    Done(Value, usize),
    /// Not a whole reply yet: the buffer must hold at least this many bytes
    /// before [`decode`] can get further.
    Need(usize),
}

/// Bytes that are not RESP: the connection can't be trusted to stay in step
/// with its requests any more and must be closed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ProtocolError {
    /// What was wrong.
    pub(crate) what: &'static str,
    /// Where in the buffer (offset of the offending frame's first byte).
    pub(crate) at: usize,
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid RESP reply: {} (at byte {})", self.what, self.at)
    }
}

impl From<ProtocolError> for redis::RedisError {
    fn from(e: ProtocolError) -> Self {
        redis::RedisError::from((redis::ErrorKind::Parse, "invalid RESP reply", e.to_string()))
    }
}

/// Decodes the first reply in `buf`.
pub(crate) fn decode(buf: &[u8]) -> Result<Decoded, ProtocolError> {
    let mut reader = Reader { buf, pos: 0 };
    match reader.value(1) {
        Ok(value) => Ok(Decoded::Done(value, reader.pos)),
        Err(Stop::Need(n)) => Ok(Decoded::Need(n)),
        Err(Stop::Bad(what, at)) => Err(ProtocolError { what, at }),
    }
}

/// Why a frame could not be read.
enum Stop {
    /// Incomplete: at least this many bytes in all.
    Need(usize),
    /// Not RESP.
    Bad(&'static str, usize),
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// The rest of a line, without its CRLF.
    fn line(&mut self) -> Result<&'a [u8], Stop> {
        let rest = &self.buf[self.pos..];
        let Some(lf) = rest.iter().position(|&b| b == b'\n') else {
            return Err(Stop::Need(self.buf.len() + 1));
        };
        if lf == 0 || rest[lf - 1] != b'\r' {
            return Err(Stop::Bad("a line not ended by CRLF", self.pos));
        }
        self.pos += lf + 1;
        Ok(&rest[..lf - 1])
    }

    fn text(&mut self) -> Result<&'a str, Stop> {
        let at = self.pos;
        std::str::from_utf8(self.line()?).map_err(|_| Stop::Bad("a line that is not UTF-8", at))
    }

    fn int(&mut self) -> Result<i64, Stop> {
        let at = self.pos;
        let line = self.line()?;
        parse_int(line).ok_or(Stop::Bad("expected an integer", at))
    }

    /// `len` bytes and their CRLF.
    fn blob(&mut self, len: usize) -> Result<&'a [u8], Stop> {
        let end =
            self.pos.checked_add(len).and_then(|e| e.checked_add(2)).ok_or(Stop::Bad("length", self.pos))?;
        if self.buf.len() < end {
            return Err(Stop::Need(end));
        }
        if &self.buf[end - 2..end] != b"\r\n" {
            return Err(Stop::Bad("a bulk string not ended by CRLF", self.pos));
        }
        let bytes = &self.buf[self.pos..end - 2];
        self.pos = end;
        Ok(bytes)
    }

    /// A length header: `None` for a negative one (RESP2's null).
    fn len(&mut self) -> Result<Option<usize>, Stop> {
        let n = self.int()?;
        Ok(usize::try_from(n).ok())
    }

    /// `n` values; the capacity is bounded by what the buffer could hold (at
    /// least 3 bytes a value), so a lying header can't reserve gigabytes.
    fn values(&mut self, n: usize, depth: usize) -> Result<Vec<Value>, Stop> {
        let mut out = Vec::with_capacity(n.min((self.buf.len() - self.pos) / 3 + 1));
        for _ in 0..n {
            out.push(self.value(depth + 1)?);
        }
        Ok(out)
    }

    fn pairs(&mut self, n: usize, depth: usize) -> Result<Vec<(Value, Value)>, Stop> {
        let mut out = Vec::with_capacity(n.min((self.buf.len() - self.pos) / 6 + 1));
        for _ in 0..n {
            let k = self.value(depth + 1)?;
            out.push((k, self.value(depth + 1)?));
        }
        Ok(out)
    }

    fn value(&mut self, depth: usize) -> Result<Value, Stop> {
        let at = self.pos;
        if depth > MAX_DEPTH {
            return Err(Stop::Bad("nested deeper than 100", at));
        }
        let Some(&kind) = self.buf.get(self.pos) else {
            return Err(Stop::Need(self.pos + 1));
        };
        self.pos += 1;
        Ok(match kind {
            b'+' => match self.text()? {
                "OK" => Value::Okay,
                s => Value::SimpleString(s.to_owned()),
            },
            b':' => Value::Int(self.int()?),
            b'$' => match self.len()? {
                Some(n) => Value::BulkString(self.blob(n)?.to_vec()),
                None => Value::Nil,
            },
            b'*' => match self.len()? {
                Some(n) => Value::Array(self.values(n, depth)?),
                None => Value::Nil,
            },
            b'~' => match self.len()? {
                Some(n) => Value::Set(self.values(n, depth)?),
                None => Value::Nil,
            },
            b'%' => match self.len()? {
                Some(n) => Value::Map(self.pairs(n, depth)?),
                None => return Err(Stop::Bad("a map of negative length", at)),
            },
            b'|' => match self.len()? {
                Some(n) => {
                    let attributes = self.pairs(n, depth)?;
                    Value::Attribute { data: Box::new(self.value(depth + 1)?), attributes }
                }
                None => return Err(Stop::Bad("an attribute of negative length", at)),
            },
            b'>' => match self.len()? {
                Some(n) if n > 0 => {
                    let mut data = self.values(n, depth)?;
                    let kind = match data.remove(0) {
                        Value::BulkString(b) => {
                            String::from_utf8(b).map_err(|_| Stop::Bad("push kind", at))?
                        }
                        Value::SimpleString(s) => s,
                        _ => return Err(Stop::Bad("a push whose kind is not a string", at)),
                    };
                    Value::Push { kind: push_kind(kind), data }
                }
                _ => Value::Push { kind: PushKind::Other(String::new()), data: Vec::new() },
            },
            b'-' => {
                self.line()?;
                server_error(&self.buf[at..self.pos], at)?
            }
            b'!' => {
                let n = self.len()?.ok_or(Stop::Bad("a blob error of negative length", at))?;
                let text = String::from_utf8_lossy(self.blob(n)?).replace(['\r', '\n'], " ");
                server_error(format!("-{text}\r\n").as_bytes(), at)?
            }
            b'_' => {
                self.line()?;
                Value::Nil
            }
            b',' => {
                Value::Double(self.text()?.trim().parse().map_err(|_| Stop::Bad("expected a double", at))?)
            }
            b'#' => match self.line()? {
                b"t" => Value::Boolean(true),
                b"f" => Value::Boolean(false),
                _ => return Err(Stop::Bad("expected a boolean", at)),
            },
            b'=' => {
                let n = self.len()?.ok_or(Stop::Bad("a verbatim string of negative length", at))?;
                let text = String::from_utf8_lossy(self.blob(n)?);
                let (format, text) =
                    text.split_once(':').ok_or(Stop::Bad("a verbatim string without format", at))?;
                let format = match format {
                    "txt" => VerbatimFormat::Text,
                    "mkd" => VerbatimFormat::Markdown,
                    other => VerbatimFormat::Unknown(other.to_owned()),
                };
                Value::VerbatimString { format, text: text.to_owned() }
            }
            b'(' => {
                // `Value::BigNumber` holds a `BigInt` or bytes depending on a redis-rs
                // feature another crate may turn on: redis-rs's parser builds it.
                self.text()?;
                parsed(&self.buf[at..self.pos]).ok_or(Stop::Bad("expected a big number", at))?
            }
            _ => return Err(Stop::Bad("an unknown type byte", at)),
        })
    }
}

/// A decimal integer as redis-rs reads it (surrounding blanks allowed); the
/// common case without them parsed by hand.
fn parse_int(line: &[u8]) -> Option<i64> {
    let (negative, digits) = match line {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, line),
    };
    if !digits.is_empty() && digits.len() <= 18 && digits.iter().all(u8::is_ascii_digit) {
        let n = digits.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0'));
        return Some(if negative { -n } else { n });
    }
    std::str::from_utf8(line).ok()?.trim().parse().ok()
}

/// A server error built by redis-rs's own parser from its RESP2 line, so its
/// kind and code are exactly what a redis-rs connection gives (its
/// `ServerError` has no public constructor).
fn server_error(line: &[u8], at: usize) -> Result<Value, Stop> {
    match parsed(line) {
        Some(v @ Value::ServerError(_)) => Ok(v),
        _ => Err(Stop::Bad("an error line", at)),
    }
}

/// A rare frame (an error, a big number) read by redis-rs's parser.
fn parsed(frame: &[u8]) -> Option<Value> {
    redis::parse_redis_value(frame).ok()
}

/// redis-rs's names for push kinds (its `get_push_kind` is not exported).
fn push_kind(kind: String) -> PushKind {
    match kind.as_str() {
        "invalidate" => PushKind::Invalidate,
        "message" => PushKind::Message,
        "pmessage" => PushKind::PMessage,
        "smessage" => PushKind::SMessage,
        "unsubscribe" => PushKind::Unsubscribe,
        "punsubscribe" => PushKind::PUnsubscribe,
        "sunsubscribe" => PushKind::SUnsubscribe,
        "subscribe" => PushKind::Subscribe,
        "psubscribe" => PushKind::PSubscribe,
        "ssubscribe" => PushKind::SSubscribe,
        _ => PushKind::Other(kind),
    }
}

#[cfg(test)]
mod prop;
#[cfg(test)]
mod tests;
