//! Task option keys (`retries`, `backoff`, `rate_limit`, `concurrency`, conditions, labels,
//! slots, ...) turned into builder calls, each checked on the offending token.

use proc_macro2::TokenStream;
use quote::quote;
use syn::LitStr;
use syn::spanned::Spanned;

use crate::args::{Arg, Errors, check_keys};
use crate::checks;

/// The variant of `enum_path` that `lit` names (compared case-insensitively), or an error
/// listing the accepted names.
pub(crate) fn named_variant(
    lit: &LitStr,
    what: &str,
    enum_path: TokenStream,
    names: &[(&str, &str)],
) -> syn::Result<TokenStream> {
    let value = lit.value();
    let found = names
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(&value));
    match found {
        Some((_, variant)) => {
            let variant = syn::Ident::new(variant, lit.span());
            Ok(quote!(#enum_path::#variant))
        }
        None => Err(syn::Error::new(
            lit.span(),
            format!(
                "unknown {what} `{value}`; supported: {}",
                names.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            ),
        )),
    }
}

/// A literal integer in `1..=i32::MAX`, or an error saying `what` must be at least 1.
pub(crate) fn positive(arg: &Arg, what: &str) -> syn::Result<i32> {
    let (n, span) = arg.int()?;
    i32::try_from(n)
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| syn::Error::new(span, format!("{what} must be at least 1")))
}

/// One option key as a builder call.
pub(crate) fn option(arg: &Arg) -> syn::Result<TokenStream> {
    let p = quote!(::hatchet_rs::__private);
    Ok(match arg.name().as_str() {
        "retries" => {
            let (n, span) = arg.int()?;
            let n = u32::try_from(n)
                .map_err(|_| syn::Error::new(span, "retries must be zero or more"))?;
            quote!(.retries(#n))
        }
        "timeout" | "schedule_timeout" => {
            let lit = arg.str()?;
            checks::duration(&lit)?;
            let method = &arg.key;
            quote!(.#method(#lit))
        }
        "backoff" => backoff(arg)?,
        "rate_limit" => rate_limit(arg)?,
        "concurrency" => concurrency(arg)?,
        "wait_for_event" => wait_for_event(arg)?,
        "delay" => {
            let lit = arg.str()?;
            checks::duration(&lit)?;
            quote!(.delay(#lit))
        }
        "wait_for" | "skip_if" | "cancel_if" => {
            let method = &arg.key;
            let condition = condition_group(arg)?;
            quote!(.#method(#condition))
        }
        "desired_label" => desired_label(arg)?,
        "durable" => {
            arg.flag()?;
            quote!(.durable())
        }
        "eviction" => eviction(arg)?,
        "slots" => match &arg.value {
            crate::args::Value::Nested(kinds) => {
                let mut calls = Vec::new();
                for kind in kinds {
                    let n = positive(kind, "slots")?.unsigned_abs();
                    let name = kind.key.to_string();
                    calls.push(quote!(.slots(#name, #n)));
                }
                quote!(#(#calls)*)
            }
            _ => {
                let n = positive(arg, "slots")?.unsigned_abs();
                quote!(.slots(#p::DEFAULT_SLOT, #n))
            }
        },
        other => {
            return Err(syn::Error::new(
                arg.key.span(),
                format!("`{other}` is not a task option"),
            ));
        }
    })
}

fn backoff(arg: &Arg) -> syn::Result<TokenStream> {
    let p = quote!(::hatchet_rs::__private);
    let nested = arg.nested("factor = 2.0, max = \"1m\"")?;
    let mut errors = Errors::default();
    check_keys(nested, "backoff", &["factor", "max"], &[], &mut errors);
    errors.finish()?;
    let mut factor = None;
    let mut max = None;
    for a in nested {
        match a.name().as_str() {
            "factor" => {
                let (f, span) = a.float()?;
                if !(1.0..=1000.0).contains(&f) {
                    return Err(syn::Error::new(
                        span,
                        "the backoff factor must be between 1 and 1000 (the engine's range)",
                    ));
                }
                factor = Some(f as f32);
            }
            _ => {
                let lit = a.str()?;
                let ms = checks::duration(&lit)?;
                if ms % 1000.0 != 0.0 || ms > 86_400_000.0 {
                    return Err(syn::Error::new(
                        lit.span(),
                        "the backoff max must be whole seconds from 1s to 24h (the engine's range)",
                    ));
                }
                max = Some((ms / 1000.0) as u64);
            }
        }
    }
    let factor = factor.ok_or_else(|| {
        syn::Error::new(
            arg.key.span(),
            "backoff needs a `factor`: `backoff(factor = 2.0)`",
        )
    })?;
    let max = max.map(|s| quote!(.max_delay(::core::time::Duration::from_secs(#s))));
    Ok(quote!(.backoff(#p::Backoff::exponential(#factor) #max)))
}

fn rate_limit_window(lit: &LitStr) -> syn::Result<TokenStream> {
    named_variant(
        lit,
        "rate-limit window",
        quote!(::hatchet_rs::__private::RateLimitDuration),
        &[
            ("second", "Second"),
            ("minute", "Minute"),
            ("hour", "Hour"),
            ("day", "Day"),
            ("week", "Week"),
            ("month", "Month"),
            ("year", "Year"),
        ],
    )
}

fn rate_limit(arg: &Arg) -> syn::Result<TokenStream> {
    let p = quote!(::hatchet_rs::__private);
    let nested = arg.nested("key = \"api\", units = 1")?;
    let mut errors = Errors::default();
    check_keys(
        nested,
        "rate_limit",
        &["key", "units", "key_expr", "limit", "window", "units_expr"],
        &[],
        &mut errors,
    );
    errors.finish()?;
    let get = |k: &str| nested.iter().find(|a| a.key == k);
    let units = match get("units") {
        Some(a) => Some(positive(a, "units")?),
        None => None,
    };
    if let Some(key_expr) = get("key_expr") {
        if get("key").is_some() {
            return Err(syn::Error::new(
                key_expr.key.span(),
                "give either `key` (a fixed limit) or `key_expr` (a dynamic one), not both",
            ));
        }
        let key_expr = key_expr.str()?;
        let limit = get("limit")
            .ok_or_else(|| {
                syn::Error::new(
                    arg.key.span(),
                    "a dynamic rate limit needs `limit = \"<CEL expression>\"`",
                )
            })?
            .str()?;
        let window = match get("window") {
            Some(w) => rate_limit_window(&w.str()?)?,
            None => quote!(#p::RateLimitDuration::Minute),
        };
        let units = units.map(|n| quote!(.units(#n)));
        let units_expr = get("units_expr")
            .map(Arg::str)
            .transpose()?
            .map(|e| quote!(.units_expr(#e)));
        return Ok(
            quote!(.rate_limit(#p::RateLimit::dynamic(#key_expr, #limit, #window) #units #units_expr)),
        );
    }
    for k in ["limit", "window", "units_expr"] {
        if let Some(a) = get(k) {
            return Err(syn::Error::new(
                a.key.span(),
                format!("`{k}` belongs to a dynamic rate limit: add `key_expr`"),
            ));
        }
    }
    let key = get("key")
        .ok_or_else(|| {
            syn::Error::new(
                arg.key.span(),
                "a rate limit needs `key = \"...\"` (or `key_expr` for a dynamic one)",
            )
        })?
        .str()?;
    let units = units.unwrap_or(1);
    Ok(quote!(.rate_limit(#p::RateLimit::fixed(#key, #units))))
}

pub(crate) fn strategy(lit: &LitStr) -> syn::Result<TokenStream> {
    named_variant(
        lit,
        "concurrency strategy",
        quote!(::hatchet_rs::__private::ConcurrencyStrategy),
        &[
            ("CANCEL_IN_PROGRESS", "CancelInProgress"),
            ("CANCEL_NEWEST", "CancelNewest"),
            ("GROUP_ROUND_ROBIN", "GroupRoundRobin"),
            ("CANCEL_QUEUED_EXCEPT_NEWEST", "CancelQueuedExceptNewest"),
            ("CANCEL_QUEUED_EXCEPT_OLDEST", "CancelQueuedExceptOldest"),
        ],
    )
}

/// `concurrency = N` or `concurrency(expression = "...", max_runs = N, strategy = "...")`.
pub(crate) fn concurrency_value(arg: &Arg) -> syn::Result<TokenStream> {
    let p = quote!(::hatchet_rs::__private);
    if let crate::args::Value::Expr(_) = arg.value {
        let n = positive(arg, "the concurrency limit")?;
        return Ok(quote!(#p::Concurrency::limit(#n)));
    }
    let nested = arg
        .nested("expression = \"input.user_id\", max_runs = 1, strategy = \"GROUP_ROUND_ROBIN\"")?;
    let mut errors = Errors::default();
    check_keys(
        nested,
        "concurrency",
        &["expression", "max_runs", "strategy"],
        &[],
        &mut errors,
    );
    errors.finish()?;
    let mut expression = None;
    let mut calls = Vec::new();
    for a in nested {
        match a.name().as_str() {
            "expression" => expression = Some(a.str()?),
            "max_runs" => {
                let n = positive(a, "max_runs")?;
                calls.push(quote!(.max_runs(#n)));
            }
            _ => {
                let s = strategy(&a.str()?)?;
                calls.push(quote!(.strategy(#s)));
            }
        }
    }
    let expression = expression.ok_or_else(|| {
        syn::Error::new(
            arg.key.span(),
            "concurrency needs `expression = \"<CEL expression>\"`",
        )
    })?;
    Ok(quote!(#p::Concurrency::new(#expression) #(#calls)*))
}

fn concurrency(arg: &Arg) -> syn::Result<TokenStream> {
    let value = concurrency_value(arg)?;
    Ok(quote!(.concurrency(#value)))
}

/// `wait_for(sleep = "10s")`, `(event = "k", expr = "...")`, `(parent = "p", expr = "...")`,
/// or `(any(sleep = "1h", event = "k"))`.
fn condition_group(arg: &Arg) -> syn::Result<TokenStream> {
    let p = quote!(::hatchet_rs::__private);
    let nested = arg.nested("sleep = \"10s\"")?;
    if let [only] = nested
        && only.key == "any"
    {
        let inner = only.nested("sleep = \"1h\", event = \"approved\"")?;
        let mut errors = Errors::default();
        check_keys(
            inner,
            "condition",
            &["sleep", "event", "parent"],
            &["sleep", "event", "parent"],
            &mut errors,
        );
        errors.finish()?;
        let mut alternatives = Vec::new();
        for alt in inner {
            alternatives.push(match alt.name().as_str() {
                    "sleep" => sleep(alt)?,
                    "event" => {
                        let key = alt.str()?;
                        quote!(#p::Condition::user_event(#key))
                    }
                    _ => {
                        return Err(syn::Error::new(alt.key.span(), "inside `any`, a parent condition needs an expression: use `any(...)` with sleep and event, or a separate condition"));
                    }
                });
        }
        return Ok(quote!(#p::Condition::or([#(#alternatives),*])));
    }
    let mut errors = Errors::default();
    check_keys(
        nested,
        "condition",
        &["sleep", "event", "parent", "expr", "any"],
        &[],
        &mut errors,
    );
    errors.finish()?;
    let get = |k: &str| nested.iter().find(|a| a.key == k);
    let kinds: Vec<&Arg> = nested
        .iter()
        .filter(|a| ["sleep", "event", "parent"].contains(&a.name().as_str()))
        .collect();
    if kinds.len() != 1 {
        return Err(syn::Error::new(
            arg.key.span(),
            format!(
                "`{}` takes one of `sleep = \"..\"`, `event = \"..\"` or `parent = \"..\"` (use `any(...)` for alternatives)",
                arg.key
            ),
        ));
    }
    let expr = get("expr").map(Arg::str).transpose()?;
    let kind = kinds[0];
    Ok(match kind.name().as_str() {
        "sleep" => {
            if let Some(e) = &expr {
                return Err(syn::Error::new(
                    e.span(),
                    "a sleep condition takes no `expr`",
                ));
            }
            sleep(kind)?
        }
        "event" => {
            let key = kind.str()?;
            match expr {
                Some(e) => quote!(#p::Condition::user_event_where(#key, #e)),
                None => quote!(#p::Condition::user_event(#key)),
            }
        }
        _ => {
            let parent = kind.str()?;
            let e = expr.ok_or_else(|| {
                syn::Error::new(
                    kind.key.span(),
                    "a parent condition needs `expr = \"<CEL over output>\"`",
                )
            })?;
            quote!(#p::Condition::parent_output(#parent, #e))
        }
    })
}

/// `eviction(ttl = "1h", capacity = false, priority = 1)` or `eviction = "never"`.
fn eviction(arg: &Arg) -> syn::Result<TokenStream> {
    let p = quote!(::hatchet_rs::__private);
    if let crate::args::Value::Nested(_) = &arg.value {
        let nested = arg.nested("ttl = \"1h\", capacity = false")?;
        let mut errors = Errors::default();
        check_keys(
            nested,
            "eviction",
            &["ttl", "capacity", "priority"],
            &[],
            &mut errors,
        );
        errors.finish()?;
        let mut calls = Vec::new();
        for a in nested {
            match a.name().as_str() {
                "ttl" => {
                    let ms = checks::duration(&a.str()?)? as u64;
                    calls.push(quote!(.ttl(::core::time::Duration::from_millis(#ms))));
                }
                "capacity" => {
                    let allow = match a.expr("true or false")? {
                        syn::Expr::Lit(syn::ExprLit {
                            lit: syn::Lit::Bool(b),
                            ..
                        }) => b.value,
                        other => {
                            return Err(syn::Error::new(other.span(), "capacity is true or false"));
                        }
                    };
                    calls.push(quote!(.capacity(#allow)));
                }
                _ => {
                    let (n, span) = a.int()?;
                    let n = i32::try_from(n)
                        .map_err(|_| syn::Error::new(span, "priority is an i32"))?;
                    calls.push(quote!(.priority(#n)));
                }
            }
        }
        return Ok(quote!(.eviction(#p::EvictionPolicy::new() #(#calls)*)));
    }
    let lit = arg.str()?;
    if lit.value() != "never" {
        return Err(syn::Error::new(
            lit.span(),
            "eviction is `eviction = \"never\"` or `eviction(ttl = \"1h\", capacity = false, priority = 0)`",
        ));
    }
    Ok(quote!(.eviction(#p::EvictionPolicy::never())))
}

/// `wait_for_event(key = "order:paid", timeout = "1h", expr = "input.ok")`.
fn wait_for_event(arg: &Arg) -> syn::Result<TokenStream> {
    let nested = arg.nested("key = \"order:paid\", timeout = \"1h\"")?;
    let mut errors = Errors::default();
    check_keys(
        nested,
        "wait_for_event",
        &["key", "timeout", "expr"],
        &[],
        &mut errors,
    );
    errors.finish()?;
    let get = |k: &str| nested.iter().find(|a| a.key == k);
    let key = get("key")
        .ok_or_else(|| syn::Error::new(arg.key.span(), "wait_for_event needs `key = \"...\"`"))?
        .str()?;
    let timeout = get("timeout")
        .ok_or_else(|| {
            syn::Error::new(
                arg.key.span(),
                "wait_for_event needs `timeout = \"1h\"`: how long to wait before cancelling the task",
            )
        })?
        .str()?;
    checks::duration(&timeout)?;
    Ok(match get("expr").map(Arg::str).transpose()? {
        Some(expr) => quote!(.wait_for_event_where(#key, #expr, #timeout)),
        None => quote!(.wait_for_event(#key, #timeout)),
    })
}

fn sleep(arg: &Arg) -> syn::Result<TokenStream> {
    let lit = arg.str()?;
    let ms = checks::duration(&lit)?;
    let ms = ms as u64;
    Ok(
        quote!(::hatchet_rs::__private::Condition::Sleep(::hatchet_rs::__private::EngineDuration::new(::core::time::Duration::from_millis(#ms)))),
    )
}

fn desired_label(arg: &Arg) -> syn::Result<TokenStream> {
    let p = quote!(::hatchet_rs::__private);
    let nested = arg.nested("key = \"gpu\", value = \"a100\", required")?;
    let mut errors = Errors::default();
    check_keys(
        nested,
        "desired_label",
        &["key", "value", "required", "comparator", "weight"],
        &[],
        &mut errors,
    );
    errors.finish()?;
    let get = |k: &str| nested.iter().find(|a| a.key == k);
    let key = get("key")
        .ok_or_else(|| syn::Error::new(arg.key.span(), "desired_label needs `key = \"...\"`"))?
        .str()?;
    let value_arg = get("value").ok_or_else(|| {
        syn::Error::new(
            arg.key.span(),
            "desired_label needs `value = \"...\"` or an integer",
        )
    })?;
    let value = match value_arg.expr("\"...\" or an integer")? {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(s),
            ..
        }) => quote!(#s),
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(i),
            ..
        }) => {
            let n: i32 = i.base10_parse()?;
            quote!(#n)
        }
        other => {
            return Err(syn::Error::new(
                other.span(),
                "a label value is a string or an integer literal",
            ));
        }
    };
    let mut calls = Vec::new();
    if let Some(r) = get("required")
        && r.bool()?
    {
        calls.push(quote!(.required()));
    }
    if let Some(c) = get("comparator") {
        let variant = named_variant(
            &c.str()?,
            "comparator",
            quote!(#p::LabelComparator),
            &[
                ("=", "Equal"),
                ("==", "Equal"),
                ("!=", "NotEqual"),
                (">", "GreaterThan"),
                (">=", "GreaterThanOrEqual"),
                ("<", "LessThan"),
                ("<=", "LessThanOrEqual"),
            ],
        )?;
        calls.push(quote!(.comparator(#variant)));
    }
    if let Some(w) = get("weight") {
        let (n, span) = w.int()?;
        let n = i32::try_from(n).map_err(|_| syn::Error::new(span, "weight is too large"))?;
        calls.push(quote!(.weight(#n)));
    }
    Ok(quote!(.desired_label(#p::DesiredLabel::new(#key, #value) #(#calls)*)))
}
