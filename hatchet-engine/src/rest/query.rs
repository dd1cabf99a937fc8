//! Query strings of the REST endpoints: percent-decoded pairs with repeated keys kept (list
//! parameters repeat their key), and the typed reads the handlers share.

use std::str::FromStr;
use std::time::SystemTime;

use chrono::DateTime;
use serde_json::{Map, Value};

use super::{ApiError, PageQuery};

/// A parsed query string.
#[derive(Debug, Default)]
pub(super) struct Query(Vec<(String, String)>);

impl Query {
    pub(super) fn parse(raw: Option<&str>) -> Self {
        Self(
            raw.unwrap_or_default()
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| match p.split_once('=') {
                    Some((k, v)) => (decode(k), decode(v)),
                    None => (decode(p), String::new()),
                })
                .collect(),
        )
    }

    /// Every pair, in order.
    pub(super) fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// The first value of `key`.
    pub(super) fn first(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order.
    pub(super) fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// `key` as a number, or `default` without it; a 400 when it is not one.
    pub(super) fn number<T: FromStr>(&self, key: &str, default: T) -> Result<T, ApiError> {
        self.first(key).map_or(Ok(default), |v| {
            v.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid {key}: {v}")))
        })
    }

    /// `key` as an RFC 3339 time, if given; a 400 when it is not one.
    pub(super) fn time(&self, key: &str) -> Result<Option<SystemTime>, ApiError> {
        self.first(key).map(|v| rfc3339(key, v)).transpose()
    }

    /// `offset` and `limit`, each optional.
    pub(super) fn page(&self) -> Result<PageQuery, ApiError> {
        Ok(PageQuery {
            offset: self
                .first("offset")
                .map(|_| self.number("offset", 0))
                .transpose()?,
            limit: self
                .first("limit")
                .map(|_| self.number("limit", 0))
                .transpose()?,
        })
    }

    /// Whether `metadata` has every `k:v` of the `key` values (a non-string value compared as
    /// its JSON text).
    pub(super) fn metadata_matches(&self, key: &str, metadata: &Map<String, Value>) -> bool {
        self.all(key).into_iter().all(|kv| {
            let (k, v) = kv.split_once(':').unwrap_or((kv, ""));
            metadata.get(k).is_some_and(|m| match m {
                Value::String(s) => s == v,
                other => serde_json::to_string(other).is_ok_and(|text| text == v),
            })
        })
    }
}

/// An RFC 3339 time, or the 400 naming `field`.
pub(super) fn rfc3339(field: &str, text: &str) -> Result<SystemTime, ApiError> {
    DateTime::parse_from_rfc3339(text)
        .map(SystemTime::from)
        .map_err(|e| ApiError::bad_request(format!("invalid {field} {text:?}: {e}")))
}

/// Percent-decoding as forms encode (`+` is a space); a malformed escape stays as written.
fn decode(s: &str) -> String {
    fn hex(b: Option<&u8>) -> Option<u8> {
        b.and_then(|b| char::from(*b).to_digit(16))
            .and_then(|d| u8::try_from(d).ok())
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) {
                (Some(high), Some(low)) => {
                    out.push(high * 16 + low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_decoded_and_repeated_keys_kept() {
        let q = Query::parse(Some("a=1&b=x%3Ay+z&a=2&bad=%zz"));
        assert_eq!(q.all("a"), ["1", "2"]);
        assert_eq!(q.first("b"), Some("x:y z"));
        assert_eq!(q.first("bad"), Some("%zz"));
        assert_eq!(q.number::<usize>("a", 9).ok(), Some(1));
        assert!(q.number::<usize>("b", 9).is_err());
        assert_eq!(q.number::<usize>("none", 9).ok(), Some(9));
    }
}
