//! Checks made at expansion time so mistakes are reported on the offending literal.

use std::collections::{BTreeMap, HashMap};

use syn::LitStr;

/// The engine's duration grammar: `(number unit)+` with units `ms`, `s`, `m`, `h`
/// (`"30s"`, `"5m"`, `"1h30m"`, `"1.5s"`). Returns the total in milliseconds.
pub(crate) fn duration(lit: &LitStr) -> syn::Result<f64> {
    let text = lit.value();
    let bad = |why: &str| {
        syn::Error::new(
            lit.span(),
            format!(
                "`{text}` is not a duration: {why} (write it like \"30s\", \"5m\", \"1h\", \"250ms\" or \"1h30m\")"
            ),
        )
    };
    if text.is_empty() {
        return Err(bad("it is empty"));
    }
    let mut rest = text.as_str();
    let mut total_ms = 0.0;
    while !rest.is_empty() {
        let split = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| bad("the last number has no unit (ms, s, m or h)"))?;
        let (number, tail) = rest.split_at(split);
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(bad("expected a number before each unit"));
        }
        let value: f64 = number
            .parse()
            .map_err(|_| bad("expected a number before each unit"))?;
        let (unit_ms, len) = if tail.starts_with("ms") {
            (1.0, 2)
        } else if tail.starts_with('s') {
            (1000.0, 1)
        } else if tail.starts_with('m') {
            (60_000.0, 1)
        } else if tail.starts_with('h') {
            (3_600_000.0, 1)
        } else {
            return Err(bad("the unit must be ms, s, m or h"));
        };
        total_ms += value * unit_ms;
        rest = &tail[len..];
    }
    if total_ms < 1.0 {
        return Err(bad("it must be at least 1ms"));
    }
    Ok(total_ms)
}

/// Cron expressions as the engine takes them: five fields, or six with seconds first.
pub(crate) fn cron(lit: &LitStr) -> syn::Result<()> {
    let text = lit.value();
    let fields = text.split_whitespace().count();
    if !matches!(fields, 5 | 6) {
        return Err(syn::Error::new(
            lit.span(),
            format!(
                "cron `{text}` has {fields} fields; write five (minute hour day-of-month month day-of-week), or six with seconds first"
            ),
        ));
    }
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Optional)
        .build()
        .parse(&text)
        .map(|_| ())
        .map_err(|e| syn::Error::new(lit.span(), format!("cron `{text}` is invalid: {e}")))
}

/// Task names the engine accepts.
pub(crate) fn task_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// The tasks that sit on a cycle, if any (parents must already be known tasks).
pub(crate) fn cycle(edges: &[(String, Vec<String>)]) -> Option<Vec<String>> {
    let mut waiting: HashMap<&str, usize> =
        edges.iter().map(|(t, p)| (t.as_str(), p.len())).collect();
    let mut children: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (task, parents) in edges {
        for parent in parents {
            children
                .entry(parent.as_str())
                .or_default()
                .push(task.as_str());
        }
    }
    let mut ready: Vec<&str> = waiting
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(t, _)| *t)
        .collect();
    while let Some(task) = ready.pop() {
        for child in children.get(task).into_iter().flatten() {
            if let Some(n) = waiting.get_mut(child) {
                *n -= 1;
                if *n == 0 {
                    ready.push(child);
                }
            }
        }
        waiting.remove(task);
    }
    if waiting.is_empty() {
        return None;
    }
    let mut left: Vec<String> = waiting.keys().map(|t| (*t).to_owned()).collect();
    left.sort();
    Some(left)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> LitStr {
        LitStr::new(s, proc_macro2::Span::call_site())
    }

    #[test]
    fn durations() {
        assert_eq!(duration(&lit("1h30m")).ok(), Some(5_400_000.0));
        assert_eq!(duration(&lit("250ms")).ok(), Some(250.0));
        for bad in ["", "30", "1d", "0s", "1.2.3s", "s"] {
            assert!(duration(&lit(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn crons() {
        assert!(cron(&lit("*/5 * * * *")).is_ok());
        assert!(cron(&lit("* * *")).is_err());
        assert!(cron(&lit("61 * * * *")).is_err());
    }

    #[test]
    fn cycles() {
        let edges = vec![
            ("a".to_owned(), vec![]),
            ("b".to_owned(), vec!["a".to_owned(), "c".to_owned()]),
            ("c".to_owned(), vec!["b".to_owned()]),
        ];
        assert_eq!(cycle(&edges), Some(vec!["b".to_owned(), "c".to_owned()]));
        assert_eq!(cycle(&edges[..1]), None);
    }
}
