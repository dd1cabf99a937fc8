//! Cron expressions: parsed with the `croner` crate, seconds optional as with the engine's
//! parser (robfig/cron with `SecondOptional`), evaluated in UTC on the engine clock.

use std::time::SystemTime;

use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds};

/// Parses a cron expression; `None` if the engine would reject it. The engine takes five
/// fields or six (with seconds) and no `@daily`-style nicknames.
pub(crate) fn parse(expression: &str) -> Option<Cron> {
    let expression = expression.trim();
    if !matches!(expression.split_whitespace().count(), 5 | 6) {
        return None;
    }
    CronParser::builder()
        .seconds(Seconds::Optional)
        .build()
        .parse(expression)
        .ok()
}

/// The first time strictly after `after` at which `cron` fires.
pub(crate) fn next_after(cron: &Cron, after: SystemTime) -> Option<SystemTime> {
    let after: DateTime<Utc> = after.into();
    cron.find_next_occurrence(&after, false)
        .ok()
        .map(SystemTime::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn five_and_six_field_expressions_parse() {
        assert!(parse("*/5 * * * *").is_some());
        assert!(parse("0 */5 * * * *").is_some());
        assert!(parse("not a cron").is_none());
        assert!(parse("61 * * * *").is_none());
    }

    #[test]
    fn next_fire_time_is_after_the_given_time() {
        let cron = parse("* * * * *").expect("every minute");
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(90);
        assert_eq!(
            next_after(&cron, start),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(120))
        );
    }
}
