//! `#[task(...)]`: the task's keys, its function's shape, and the builder calls they become.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, GenericArgument, Ident, LitStr, Pat, PathArguments, ReturnType, Signature, Type};

use crate::args::{Arg, Errors, check_keys};
use crate::checks;

/// Task keys, in the order the docs list them.
pub(crate) const TASK_KEYS: &[&str] = &[
    "name",
    "after",
    "retries",
    "backoff",
    "timeout",
    "schedule_timeout",
    "rate_limit",
    "concurrency",
    "wait_for",
    "skip_if",
    "cancel_if",
    "desired_label",
    "durable",
    "slots",
    "on_failure",
    "on_success",
];
const REPEATABLE: &[&str] = &[
    "rate_limit",
    "concurrency",
    "wait_for",
    "skip_if",
    "cancel_if",
    "desired_label",
];

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Task,
    OnFailure,
    OnSuccess,
}

/// A parsed task.
pub(crate) struct TaskSpec {
    pub(crate) fn_ident: Ident,
    pub(crate) name: String,
    pub(crate) name_span: Span,
    pub(crate) after: Vec<LitStr>,
    pub(crate) role: Role,
    pub(crate) input_ty: Type,
    /// Parameters between the input and the context: typed parent outputs.
    pub(crate) parent_params: Vec<(Ident, Type)>,
    /// `T` of the function's `Result<T, E>`, when it is written that way.
    pub(crate) output_ty: Option<Type>,
    /// Builder calls for the options, such as `.retries(3)`.
    pub(crate) options: Vec<TokenStream>,
    /// The keys the task sets itself, so workflow `defaults` skip them.
    pub(crate) keys: Vec<String>,
}

/// Parses a task's arguments and signature, reporting every problem into `errors`.
pub(crate) fn parse(
    args: &[Arg],
    sig: &Signature,
    extra_keys: &[&str],
    errors: &mut Errors,
) -> Option<TaskSpec> {
    let mut allowed: Vec<&str> = TASK_KEYS.to_vec();
    allowed.extend_from_slice(extra_keys);
    check_keys(args, "task", &allowed, REPEATABLE, errors);
    let shape = errors.ok(signature(sig));

    let mut name = sig.ident.to_string();
    let mut name_span = sig.ident.span();
    let mut after = Vec::new();
    let mut role = Role::Task;
    let mut options = Vec::new();
    for arg in args {
        let key = arg.name();
        match key.as_str() {
            "name" => {
                if let Some(lit) = errors.ok(arg.str()) {
                    name = lit.value();
                    name_span = lit.span();
                }
            }
            "after" => {
                if let Some(parents) = errors.ok(arg.strs()) {
                    after.extend(parents);
                }
            }
            "on_failure" | "on_success" => {
                if errors.ok(arg.flag()).is_some() {
                    let new = if key == "on_failure" {
                        Role::OnFailure
                    } else {
                        Role::OnSuccess
                    };
                    if role != Role::Task && role != new {
                        errors.push(syn::Error::new(
                            arg.key.span(),
                            "a task is either on_failure or on_success, not both",
                        ));
                    }
                    role = new;
                }
            }
            _ if extra_keys.contains(&key.as_str()) || !TASK_KEYS.contains(&key.as_str()) => {}
            _ => {
                if let Some(call) = errors.ok(option(arg)) {
                    options.push(call);
                }
            }
        }
    }
    if !checks::task_name(&name) {
        errors.push(syn::Error::new(
            name_span,
            format!("task name `{name}` may only contain letters, digits, '.', '-' and '_'"),
        ));
    }
    if role == Role::OnFailure && !after.is_empty() {
        errors.push(syn::Error::new(
            after[0].span(),
            "the on_failure task cannot have `after`: it runs when any task fails",
        ));
    }
    if role == Role::OnSuccess && !after.is_empty() {
        errors.push(syn::Error::new(
            after[0].span(),
            "the on_success task cannot have `after`: it runs after every other task",
        ));
    }
    let (input_ty, parent_params, output_ty) = shape?;
    Some(TaskSpec {
        fn_ident: sig.ident.clone(),
        name,
        name_span,
        after,
        role,
        input_ty,
        parent_params,
        output_ty,
        options,
        keys: args.iter().map(Arg::name).collect(),
    })
}

type Shape = (Type, Vec<(Ident, Type)>, Option<Type>);

/// `async fn name(input: I, [parent: P, ...] ctx: Context) -> Result<O, E>`.
fn signature(sig: &Signature) -> syn::Result<Shape> {
    const SHAPE: &str = "a task is `async fn name(input: Input, ctx: Context) -> Result<Output, Error>`, optionally with typed parent outputs between input and ctx";
    if sig.asyncness.is_none() {
        return Err(syn::Error::new(
            sig.fn_token.span(),
            format!("task functions must be async: {SHAPE}"),
        ));
    }
    if !sig.generics.params.is_empty() {
        return Err(syn::Error::new(
            sig.generics.span(),
            format!("task functions cannot be generic: {SHAPE}"),
        ));
    }
    let mut typed = Vec::new();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(r) => {
                return Err(syn::Error::new(
                    r.span(),
                    format!("tasks take no `self`: {SHAPE}"),
                ));
            }
            FnArg::Typed(t) => typed.push(t),
        }
    }
    if typed.len() < 2 {
        return Err(syn::Error::new(
            sig.paren_token.span.join(),
            format!("expected at least two parameters: {SHAPE}"),
        ));
    }
    let last = typed[typed.len() - 1];
    if !is_context(&last.ty) {
        return Err(syn::Error::new(
            last.ty.span(),
            format!("the last parameter must be the `Context`: {SHAPE}"),
        ));
    }
    let mut parents = Vec::new();
    for param in &typed[1..typed.len() - 1] {
        match &*param.pat {
            Pat::Ident(p) => parents.push((p.ident.clone(), (*param.ty).clone())),
            other => {
                return Err(syn::Error::new(
                    other.span(),
                    "a parent-output parameter must be a plain name: the name of the parent task",
                ));
            }
        }
    }
    let output = match &sig.output {
        ReturnType::Default => {
            return Err(syn::Error::new(
                sig.span(),
                format!("task functions return a `Result`: {SHAPE}"),
            ));
        }
        ReturnType::Type(_, ty) => result_ok_type(ty),
    };
    Ok(((*typed[0].ty).clone(), parents, output))
}

fn is_context(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "Context"))
}

/// `T` in `Result<T, E>` (any path ending in `Result`).
pub(crate) fn result_ok_type(ty: &Type) -> Option<Type> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    args.args.iter().find_map(|a| match a {
        GenericArgument::Type(t) => Some(t.clone()),
        _ => None,
    })
}

/// One option key as a builder call.
pub(crate) fn option(arg: &Arg) -> syn::Result<TokenStream> {
    let p = quote!(::hatchet_sdk::__private);
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
        "slots" => match &arg.value {
            crate::args::Value::Nested(kinds) => {
                let mut calls = Vec::new();
                for kind in kinds {
                    let (n, span) = kind.int()?;
                    let n = u32::try_from(n)
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| syn::Error::new(span, "slots must be at least 1"))?;
                    let name = kind.key.to_string();
                    calls.push(quote!(.slots(#name, #n)));
                }
                quote!(#(#calls)*)
            }
            _ => {
                let (n, span) = arg.int()?;
                let n = u32::try_from(n)
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| syn::Error::new(span, "slots must be at least 1"))?;
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
    let p = quote!(::hatchet_sdk::__private);
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
    let variant = match lit.value().to_ascii_lowercase().as_str() {
        "second" => quote!(Second),
        "minute" => quote!(Minute),
        "hour" => quote!(Hour),
        "day" => quote!(Day),
        "week" => quote!(Week),
        "month" => quote!(Month),
        "year" => quote!(Year),
        other => {
            return Err(syn::Error::new(
                lit.span(),
                format!(
                    "unknown rate-limit window `{other}`; the engine has second, minute, hour, day, week, month and year"
                ),
            ));
        }
    };
    Ok(quote!(::hatchet_sdk::__private::RateLimitDuration::#variant))
}

fn rate_limit(arg: &Arg) -> syn::Result<TokenStream> {
    let p = quote!(::hatchet_sdk::__private);
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
        Some(a) => {
            let (n, span) = a.int()?;
            let n = i32::try_from(n)
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| syn::Error::new(span, "units must be at least 1"))?;
            Some(n)
        }
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
    let variant = match lit.value().to_ascii_uppercase().as_str() {
        "CANCEL_IN_PROGRESS" => quote!(CancelInProgress),
        "CANCEL_NEWEST" => quote!(CancelNewest),
        "GROUP_ROUND_ROBIN" => quote!(GroupRoundRobin),
        "CANCEL_QUEUED_EXCEPT_NEWEST" => quote!(CancelQueuedExceptNewest),
        "CANCEL_QUEUED_EXCEPT_OLDEST" => quote!(CancelQueuedExceptOldest),
        other => {
            return Err(syn::Error::new(
                lit.span(),
                format!(
                    "unknown concurrency strategy `{other}`; supported: CANCEL_IN_PROGRESS, CANCEL_NEWEST, GROUP_ROUND_ROBIN, CANCEL_QUEUED_EXCEPT_NEWEST, CANCEL_QUEUED_EXCEPT_OLDEST"
                ),
            ));
        }
    };
    Ok(quote!(::hatchet_sdk::__private::ConcurrencyStrategy::#variant))
}

/// `concurrency = N` or `concurrency(expression = "...", max_runs = N, strategy = "...")`.
pub(crate) fn concurrency_value(arg: &Arg) -> syn::Result<TokenStream> {
    let p = quote!(::hatchet_sdk::__private);
    if let crate::args::Value::Expr(_) = arg.value {
        let (n, span) = arg.int()?;
        let n = i32::try_from(n)
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| syn::Error::new(span, "the concurrency limit must be at least 1"))?;
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
                let (n, span) = a.int()?;
                let n = i32::try_from(n)
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| syn::Error::new(span, "max_runs must be at least 1"))?;
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
    let p = quote!(::hatchet_sdk::__private);
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

fn sleep(arg: &Arg) -> syn::Result<TokenStream> {
    let lit = arg.str()?;
    let ms = checks::duration(&lit)?;
    let ms = ms as u64;
    Ok(
        quote!(::hatchet_sdk::__private::Condition::Sleep(::hatchet_sdk::__private::EngineDuration::new(::core::time::Duration::from_millis(#ms)))),
    )
}

fn desired_label(arg: &Arg) -> syn::Result<TokenStream> {
    let p = quote!(::hatchet_sdk::__private);
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
        let lit = c.str()?;
        let variant = match lit.value().as_str() {
            "=" | "==" => quote!(Equal),
            "!=" => quote!(NotEqual),
            ">" => quote!(GreaterThan),
            ">=" => quote!(GreaterThanOrEqual),
            "<" => quote!(LessThan),
            "<=" => quote!(LessThanOrEqual),
            other => {
                return Err(syn::Error::new(
                    lit.span(),
                    format!("unknown comparator `{other}`; use =, !=, >, >=, < or <="),
                ));
            }
        };
        calls.push(quote!(.comparator(#p::LabelComparator::#variant)));
    }
    if let Some(w) = get("weight") {
        let (n, span) = w.int()?;
        let n = i32::try_from(n).map_err(|_| syn::Error::new(span, "weight is too large"))?;
        calls.push(quote!(.weight(#n)));
    }
    Ok(quote!(.desired_label(#p::DesiredLabel::new(#key, #value) #(#calls)*)))
}

/// `Task::new(..)` for `spec`, with typed parents decoded in a wrapper closure. `path` is how
/// to call the function (`Self::fetch` or `fetch`).
/// Each parent parameter comes with the parent's declared output type (if known) and its task
/// name; `defaults` are builder calls placed before the task's own, so the task's keys win.
pub(crate) fn task_expr(
    spec: &TaskSpec,
    path: TokenStream,
    parents: &[ParentParam],
    defaults: &[(String, TokenStream)],
) -> TokenStream {
    let defaults = defaults
        .iter()
        .filter(|(key, _)| !spec.keys.contains(key))
        .map(|(_, call)| call);
    let p = quote!(::hatchet_sdk::__private);
    let name = &spec.name;
    let span = spec.fn_ident.span();
    let options = &spec.options;
    let after = if spec.after.is_empty() {
        quote!()
    } else {
        let after = &spec.after;
        quote!(.after([#(#after),*]))
    };
    let body = if spec.parent_params.is_empty() {
        quote_spanned!(span=> #path)
    } else {
        let input_ty = &spec.input_ty;
        let decodes = spec.parent_params.iter().map(|(ident, ty)| {
            let param = ident.to_string();
            let found = parents.iter().find(|p| p.param == param);
            let parent = found.map_or(param.clone(), |p| p.task.clone());
            match found.and_then(|p| p.output.clone()) {
                // The parent's declared output type must be the parameter's type: a mismatch is
                // a type error on the parameter.
                Some(declared) => {
                    let check = quote_spanned!(ty.span()=> let #ident: #ty = #ident;);
                    quote!(
                        let #ident: #declared = #p::parent_output(&ctx, #parent)?;
                        #check
                    )
                }
                None => quote_spanned!(ty.span()=>
                    let #ident: #ty = #p::parent_output::<#ty>(&ctx, #parent)?;
                ),
            }
        });
        let names = spec.parent_params.iter().map(|(i, _)| i);
        quote_spanned!(span=> |input: #input_ty, ctx: #p::Context| async move {
            #(#decodes)*
            #path(input, #(#names,)* ctx).await.map_err(#p::into_task_error)
        })
    };
    quote_spanned!(span=> #p::Task::new(#name, #body) #after #(#defaults)* #(#options)*)
}

/// A typed parent parameter resolved against the workflow's tasks.
pub(crate) struct ParentParam {
    pub(crate) param: String,
    pub(crate) task: String,
    pub(crate) output: Option<Type>,
}
