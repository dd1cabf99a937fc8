//! Durations as the engine writes them: `"30s"`, `"5m"`, `"1h"`, `"250ms"`, or sums such as
//! `"1h30m"` (reference §3.2: `^(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ms|s|m|h))+$`, no days).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A duration that the engine accepts, written in its text form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EngineDuration(Duration);

/// Why a duration string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{input}` is not a duration: {reason} (write it like \"30s\", \"5m\", \"1h\", \"250ms\" or \"1h30m\")"
)]
pub struct DurationError {
    input: String,
    reason: &'static str,
}

impl EngineDuration {
    /// Wraps `duration`; it is sent in whole milliseconds.
    pub fn new(duration: Duration) -> Self {
        Self(duration)
    }

    /// The duration.
    pub fn as_duration(self) -> Duration {
        self.0
    }
}

impl From<Duration> for EngineDuration {
    fn from(duration: Duration) -> Self {
        Self(duration)
    }
}

impl FromStr for EngineDuration {
    type Err = DurationError;

    fn from_str(input: &str) -> Result<Self, DurationError> {
        parse(input).map(Self)
    }
}

/// Parses `input` with the engine's grammar.
pub(crate) fn parse(input: &str) -> Result<Duration, DurationError> {
    let err = |reason| DurationError {
        input: input.to_owned(),
        reason,
    };
    if input.is_empty() {
        return Err(err("it is empty"));
    }
    let mut rest = input;
    let mut total_nanos: u128 = 0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| err("the last number has no unit (ms, s, m or h)"))?;
        let (number, tail) = rest.split_at(number_len);
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(err("expected a number before each unit"));
        }
        let (unit_nanos, unit_len) = if tail.starts_with("ms") {
            (1_000_000u128, 2)
        } else if tail.starts_with('s') {
            (1_000_000_000, 1)
        } else if tail.starts_with('m') {
            (60_000_000_000, 1)
        } else if tail.starts_with('h') {
            (3_600_000_000_000, 1)
        } else {
            return Err(err("the unit must be ms, s, m or h"));
        };
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| err("the number is too large"))?
        };
        let mut nanos = whole
            .checked_mul(unit_nanos)
            .ok_or_else(|| err("the number is too large"))?;
        let mut scale = unit_nanos;
        for digit in fraction.chars().take(18) {
            scale /= 10;
            nanos += u128::from(digit.to_digit(10).unwrap_or(0)) * scale;
        }
        total_nanos = total_nanos
            .checked_add(nanos)
            .ok_or_else(|| err("the number is too large"))?;
        rest = &tail[unit_len..];
    }
    let secs =
        u64::try_from(total_nanos / 1_000_000_000).map_err(|_| err("the number is too large"))?;
    Ok(Duration::new(secs, (total_nanos % 1_000_000_000) as u32))
}

impl fmt::Display for EngineDuration {
    /// Whole hours, minutes or seconds when exact (as the official SDKs write them), else
    /// milliseconds.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let millis = self.0.as_millis();
        if millis == 0 {
            return f.write_str("0s");
        }
        if millis.is_multiple_of(3_600_000) {
            write!(f, "{}h", millis / 3_600_000)
        } else if millis.is_multiple_of(60_000) {
            write!(f, "{}m", millis / 60_000)
        } else if millis.is_multiple_of(1000) {
            write!(f, "{}s", millis / 1000)
        } else {
            write!(f, "{millis}ms")
        }
    }
}

/// Accepts `"30s"`-style strings and [`Duration`]s wherever a task option takes a duration.
pub trait IntoEngineDuration {
    /// Converts, or explains why the value is not a duration.
    fn into_engine_duration(self) -> Result<EngineDuration, DurationError>;
}

impl IntoEngineDuration for Duration {
    fn into_engine_duration(self) -> Result<EngineDuration, DurationError> {
        Ok(EngineDuration(self))
    }
}
impl IntoEngineDuration for &str {
    fn into_engine_duration(self) -> Result<EngineDuration, DurationError> {
        self.parse()
    }
}
impl IntoEngineDuration for String {
    fn into_engine_duration(self) -> Result<EngineDuration, DurationError> {
        self.parse()
    }
}
impl IntoEngineDuration for EngineDuration {
    fn into_engine_duration(self) -> Result<EngineDuration, DurationError> {
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_engine_grammar() {
        let ok = |s: &str| parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(ok("30s"), Duration::from_secs(30));
        assert_eq!(ok("5m"), Duration::from_secs(300));
        assert_eq!(ok("1h"), Duration::from_secs(3600));
        assert_eq!(ok("250ms"), Duration::from_millis(250));
        assert_eq!(ok("1h30m"), Duration::from_secs(5400));
        assert_eq!(ok("1.5s"), Duration::from_millis(1500));
        assert_eq!(ok(".5m"), Duration::from_secs(30));
        assert_eq!(ok("2m3s4ms"), Duration::from_millis(123_004));
    }

    #[test]
    fn rejects_what_the_engine_rejects() {
        for bad in [
            "",
            "30",
            "s",
            "1d",
            "1 h",
            "-1s",
            "1.2.3s",
            "1hm",
            ".s",
            "1e3s",
            "99999999999999999999999h",
        ] {
            let err = parse(bad).expect_err(bad);
            assert!(
                err.to_string().contains("is not a duration"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn displays_like_the_official_sdks() {
        let show = |d: Duration| EngineDuration::new(d).to_string();
        assert_eq!(show(Duration::from_secs(7200)), "2h");
        assert_eq!(show(Duration::from_secs(120)), "2m");
        assert_eq!(show(Duration::from_secs(90)), "90s");
        assert_eq!(show(Duration::from_millis(1500)), "1500ms");
        assert_eq!(show(Duration::ZERO), "0s");
        for text in ["2h", "2m", "90s", "1500ms"] {
            assert_eq!(
                text.parse::<EngineDuration>().expect("parse").to_string(),
                text
            );
        }
    }
}
