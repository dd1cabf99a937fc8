//! `#[task(...)]`: the task's keys, its function's shape, and the builder calls they become.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, GenericArgument, Ident, LitStr, Pat, PathArguments, ReturnType, Signature, Type};

use crate::args::{Arg, Errors, check_keys};
use crate::checks;
use crate::options::option;

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
    "wait_for_event",
    "delay",
    "skip_if",
    "cancel_if",
    "desired_label",
    "durable",
    "eviction",
    "slots",
    "batch",
    "on_failure",
    "on_success",
];
const REPEATABLE: &[&str] = &[
    "rate_limit",
    "concurrency",
    "wait_for",
    "wait_for_event",
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
    /// Whether the task has a `skip_if` condition.
    pub(crate) skip_if: bool,
    /// Whether the function takes a `DurableContext` (a durable task).
    pub(crate) durable: bool,
    /// For a batch task: the `Batch` options expression and whether its output is broadcast.
    pub(crate) batch: Option<(TokenStream, bool)>,
}

/// `batch(max_size = 100, max_interval = "1s", key = "input.customer", max_runs = 4,
/// broadcast)`: the `Batch` expression and the broadcast flag.
fn batch_options(arg: &Arg) -> syn::Result<(TokenStream, bool)> {
    let p = quote!(::hatchet_rs::__private);
    let nested = arg.nested("max_size = 100, max_interval = \"1s\", key = \"input.customer\"")?;
    let mut errors = Errors::default();
    check_keys(
        nested,
        "batch",
        &["max_size", "max_interval", "key", "max_runs", "broadcast"],
        &[],
        &mut errors,
    );
    errors.finish()?;
    let mut size = None;
    let mut calls = Vec::new();
    let mut broadcast = false;
    for a in nested {
        match a.name().as_str() {
            "max_size" => {
                let (n, span) = a.int()?;
                match u32::try_from(n) {
                    Ok(n @ 1..=100_000) => size = Some(n),
                    _ => {
                        return Err(syn::Error::new(
                            span,
                            "batch max_size is between 1 and 100000",
                        ));
                    }
                }
            }
            "max_interval" => {
                let lit = a.str()?;
                let ms = checks::duration(&lit)?;
                if !(1.0..=86_400_000.0).contains(&ms) {
                    return Err(syn::Error::new(
                        lit.span(),
                        "batch max_interval is between 1ms and 24h",
                    ));
                }
                calls.push(quote!(.max_interval(#lit)));
            }
            "key" => {
                let lit = a.str()?;
                if lit.value().trim().is_empty() {
                    return Err(syn::Error::new(
                        lit.span(),
                        "batch key is a CEL expression such as \"input.customer\"",
                    ));
                }
                calls.push(quote!(.key(#lit)));
            }
            "max_runs" => {
                let (n, span) = a.int()?;
                match u32::try_from(n) {
                    Ok(n @ 1..=10_000) => calls.push(quote!(.max_runs(#n))),
                    _ => {
                        return Err(syn::Error::new(
                            span,
                            "batch max_runs is between 1 and 10000",
                        ));
                    }
                }
            }
            _ => {
                a.flag()?;
                broadcast = true;
            }
        }
    }
    let Some(size) = size else {
        return Err(syn::Error::new(
            arg.key.span(),
            "a batch needs `max_size`: `batch(max_size = 100)`",
        ));
    };
    Ok((quote!(#p::Batch::max_size(#size) #(#calls)*), broadcast))
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
    let mut batch = None;
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
            "batch" => {
                if let Some(options) = errors.ok(batch_options(arg)) {
                    batch = Some(options);
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
    let (mut input_ty, parent_params, mut output_ty, kind) = shape?;
    let durable_ctx = kind == CtxKind::Durable;
    let batch_key = args.iter().find(|a| a.name() == "batch");
    match (batch_key, kind) {
        (Some(key), CtxKind::Batch) => {
            for other in ["durable", "eviction", "slots"] {
                if let Some(arg) = args.iter().find(|a| a.name() == other) {
                    errors.push(syn::Error::new(
                        arg.key.span(),
                        format!("a batch task cannot take `{other}`: the engine runs each batch in one default slot, with no durable event log"),
                    ));
                }
            }
            if let Some((ident, _)) = parent_params.first() {
                errors.push(syn::Error::new(
                    ident.span(),
                    "a batch task takes `items: Vec<Input>` and `ctx: BatchContext` only: read each item's parent outputs with `ctx.items()[i].context().parent_output(..)`",
                ));
            }
            match vec_item(&input_ty) {
                Some(item) => input_ty = item,
                None => errors.push(syn::Error::new(
                    input_ty.span(),
                    "a batch task's first parameter is `Vec<Input>`: the inputs of the batch's items",
                )),
            }
            let broadcast = batch.as_ref().is_some_and(|(_, b)| *b);
            if !broadcast && let Some(out) = output_ty.clone() {
                match vec_item(&out) {
                    Some(item) => output_ty = Some(item),
                    None => errors.push(syn::Error::new(
                        out.span(),
                        "a batch task returns `Result<Vec<Output>, Error>`, one output per input in order (or add `broadcast` to `batch(..)` to give every item one output)",
                    )),
                }
            }
            let _ = key;
        }
        (Some(key), _) => errors.push(syn::Error::new(
            key.key.span(),
            "a batch task is `async fn name(items: Vec<Input>, ctx: BatchContext) -> Result<Vec<Output>, Error>`",
        )),
        (None, CtxKind::Batch) => errors.push(syn::Error::new(
            sig.ident.span(),
            "a task taking a `BatchContext` must be declared `#[task(batch(max_size = ..))]`",
        )),
        _ => {}
    }
    let durable_key = args.iter().find(|a| a.name() == "durable");
    match (durable_key, durable_ctx) {
        (Some(key), false) => errors.push(syn::Error::new(
            key.key.span(),
            "a durable task takes `ctx: DurableContext` as its last parameter (its sleeps, waits and memoised steps go through it)",
        )),
        (None, true) => errors.push(syn::Error::new(
            sig.ident.span(),
            "a task taking a `DurableContext` must be declared `#[task(durable)]`",
        )),
        _ => {}
    }
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
        skip_if: args.iter().any(|a| a.name() == "skip_if"),
        durable: durable_ctx,
        batch,
    })
}

/// `T` of `Vec<T>` (any path ending in `Vec`).
fn vec_item(ty: &Type) -> Option<Type> {
    first_type_arg(ty, "Vec")
}

/// Which context a task function takes last.
#[derive(Clone, Copy, PartialEq, Eq)]
enum CtxKind {
    Plain,
    Durable,
    Batch,
}

type Shape = (Type, Vec<(Ident, Type)>, Option<Type>, CtxKind);

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
    let kind = if is_named(&last.ty, "DurableContext") {
        CtxKind::Durable
    } else if is_named(&last.ty, "BatchContext") {
        CtxKind::Batch
    } else if is_named(&last.ty, "Context") {
        CtxKind::Plain
    } else {
        return Err(syn::Error::new(
            last.ty.span(),
            format!(
                "the last parameter must be the `Context` (`DurableContext` for a durable task, `BatchContext` for a batch task): {SHAPE}"
            ),
        ));
    };
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
    Ok(((*typed[0].ty).clone(), parents, output, kind))
}

fn is_named(ty: &Type, name: &str) -> bool {
    matches!(ty, Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == name))
}

/// `T` in `Result<T, E>` (any path ending in `Result`).
pub(crate) fn result_ok_type(ty: &Type) -> Option<Type> {
    first_type_arg(ty, "Result")
}

/// The first type argument of a path type whose last segment is `name`.
fn first_type_arg(ty: &Type, name: &str) -> Option<Type> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if last.ident != name {
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
    let p = quote!(::hatchet_rs::__private);
    let name = &spec.name;
    let span = spec.fn_ident.span();
    let options = &spec.options;
    let after = if spec.after.is_empty() {
        quote!()
    } else {
        let after = &spec.after;
        quote!(.after([#(#after),*]))
    };
    let (constructor, ctx_ty) = if spec.durable {
        (quote!(new_durable), quote!(#p::DurableContext))
    } else {
        (quote!(new), quote!(#p::Context))
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
        quote_spanned!(span=> |input: #input_ty, ctx: #ctx_ty| async move {
            #(#decodes)*
            #path(input, #(#names,)* ctx).await.map_err(#p::into_task_error)
        })
    };
    if let Some((batch, broadcast)) = &spec.batch {
        let constructor = if *broadcast {
            quote!(new_batch_broadcast)
        } else {
            quote!(new_batch)
        };
        return quote_spanned!(span=> #p::Task::#constructor(#name, #batch, #path) #after #(#defaults)* #(#options)*);
    }
    quote_spanned!(span=> #p::Task::#constructor(#name, #body) #after #(#defaults)* #(#options)*)
}

/// A typed parent parameter resolved against the workflow's tasks.
pub(crate) struct ParentParam {
    pub(crate) param: String,
    pub(crate) task: String,
    pub(crate) output: Option<Type>,
}
