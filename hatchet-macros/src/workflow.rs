//! `#[workflow(...)]` on an `impl` block whose `#[task]` functions form the DAG.

use proc_macro2::TokenStream;
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Attribute, Ident, ImplItem, ItemImpl, LitStr, Type};

use crate::args::{Arg, Args, Errors, check_keys};
use crate::checks;
use crate::options;
use crate::task::{self, Role, TaskSpec};

/// Workflow keys, in the order the docs list them.
pub(crate) const WORKFLOW_KEYS: &[&str] = &[
    "name",
    "description",
    "version",
    "on_events",
    "on_crons",
    "cron_input",
    "concurrency",
    "sticky",
    "default_priority",
    "idempotency",
    "output",
    "defaults",
];

/// Workflow-level keys a standalone `#[task]` also takes.
pub(crate) const STANDALONE_KEYS: &[&str] = &[
    "description",
    "version",
    "on_events",
    "on_crons",
    "cron_input",
    "sticky",
    "default_priority",
    "idempotency",
];

/// Builder calls for the workflow-level keys among `keys` (`name`, `output` and `defaults`
/// are read by the caller).
pub(crate) fn workflow_options(
    args: &[Arg],
    keys: &[&str],
    errors: &mut Errors,
) -> Vec<TokenStream> {
    let p = quote!(::hatchet_rs::__private);
    let mut calls = Vec::new();
    for arg in args.iter().filter(|a| keys.contains(&a.name().as_str())) {
        let call = match arg.name().as_str() {
            "description" | "version" => arg.str().map(|s| {
                let method = &arg.key;
                quote!(.#method(#s))
            }),
            "on_events" => arg.strs().map(|keys| quote!(#(.on_event(#keys))*)),
            "on_crons" => arg.strs().and_then(|crons| {
                crons.iter().try_for_each(checks::cron)?;
                Ok(quote!(#(.on_cron(#crons))*))
            }),
            "cron_input" => arg
                .expr("serde_json::json!({...})")
                .map(|e| quote!(.cron_input(&#e))),
            "concurrency" => options::concurrency_value(arg).map(|c| quote!(.concurrency(#c))),
            "sticky" => arg.str().and_then(|s| {
                let variant = options::named_variant(
                    &s,
                    "sticky strategy",
                    quote!(#p::StickyStrategy),
                    &[("soft", "Soft"), ("hard", "Hard")],
                )?;
                Ok(quote!(.sticky(#variant)))
            }),
            "default_priority" => arg.int().and_then(|(n, span)| {
                let variant = match n {
                    1 => quote!(Low),
                    2 => quote!(Medium),
                    3 => quote!(High),
                    _ => {
                        return Err(syn::Error::new(
                            span,
                            "default_priority is 1 (low), 2 (medium) or 3 (high)",
                        ));
                    }
                };
                Ok(quote!(.default_priority(#p::Priority::#variant)))
            }),
            "idempotency" => idempotency(arg),
            _ => continue,
        };
        if let Some(call) = errors.ok(call) {
            calls.push(call);
        }
    }
    calls
}

fn idempotency(arg: &Arg) -> syn::Result<TokenStream> {
    let p = quote!(::hatchet_rs::__private);
    let nested = arg.nested("expression = \"input.order_id\", ttl = \"1h\"")?;
    let mut errors = Errors::default();
    check_keys(
        nested,
        "idempotency",
        &["expression", "ttl", "method"],
        &[],
        &mut errors,
    );
    errors.finish()?;
    let get = |k: &str| nested.iter().find(|a| a.key == k);
    let expression = get("expression")
        .ok_or_else(|| syn::Error::new(arg.key.span(), "idempotency needs `expression = \"...\"`"))?
        .str()?;
    let ttl = get("ttl")
        .ok_or_else(|| syn::Error::new(arg.key.span(), "idempotency needs `ttl = \"1h\"`"))?
        .str()?;
    let ms = checks::duration(&ttl)? as u64;
    let method = match get("method") {
        None => quote!(),
        Some(m) => {
            let variant = options::named_variant(
                &m.str()?,
                "idempotency method",
                quote!(#p::IdempotencyMethod),
                &[("ttl", "Ttl"), ("status", "Status")],
            )?;
            quote!(.method(#variant))
        }
    };
    Ok(
        quote!(.idempotency(#p::Idempotency::new(#expression, ::core::time::Duration::from_millis(#ms)) #method)),
    )
}

fn is_task_attr(attr: &Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|s| s.ident == "task")
}

pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut item_impl: ItemImpl = match syn::parse2(item.clone()) {
        Ok(i) => i,
        Err(_) => {
            let error = syn::Error::new(
                proc_macro2::Span::call_site(),
                "#[workflow] goes on an `impl` block of a type: `struct MyWorkflow; #[workflow] impl MyWorkflow { #[task] async fn ... }`",
            );
            let error = error.to_compile_error();
            return quote!(#error #item);
        }
    };
    let mut errors = Errors::default();
    let args = errors
        .ok(syn::parse2::<Args>(attr))
        .map(|a| a.0)
        .unwrap_or_default();
    check_keys(
        &args,
        "workflow",
        WORKFLOW_KEYS,
        &["concurrency"],
        &mut errors,
    );

    // Pull the #[task] attributes off the functions, so they stay plain associated functions.
    let mut tasks: Vec<TaskSpec> = Vec::new();
    let mut task_attrs = 0;
    for item in &mut item_impl.items {
        let ImplItem::Fn(f) = item else { continue };
        let Some(index) = f.attrs.iter().position(is_task_attr) else {
            continue;
        };
        let attr = f.attrs.remove(index);
        task_attrs += 1;
        let task_args = match &attr.meta {
            syn::Meta::Path(_) => Vec::new(),
            _ => errors
                .ok(attr.parse_args::<Args>())
                .map(|a| a.0)
                .unwrap_or_default(),
        };
        if let Some(spec) = task::parse(&task_args, &f.sig, &[], &mut errors) {
            tasks.push(spec);
        }
    }
    // A task that failed to parse has reported its error; generating would only add noise.
    let generated = if tasks.len() == task_attrs {
        errors.ok(generate(&item_impl, &args, &tasks))
    } else {
        None
    };
    let errors = match errors.finish() {
        Ok(()) => quote!(),
        Err(e) => e.to_compile_error(),
    };
    quote!(#item_impl #errors #generated)
}

fn generate(item_impl: &ItemImpl, args: &[Arg], tasks: &[TaskSpec]) -> syn::Result<TokenStream> {
    let p = quote!(::hatchet_rs::__private);
    let self_ty = &item_impl.self_ty;
    if !item_impl.generics.params.is_empty() {
        return Err(syn::Error::new(
            item_impl.generics.span(),
            "a #[workflow] type cannot be generic",
        ));
    }
    let first = tasks.first().ok_or_else(|| {
        syn::Error::new(
            item_impl.self_ty.span(),
            "a #[workflow] needs at least one `#[task]` function",
        )
    })?;
    let mut errors = Errors::default();
    let name = match args.iter().find(|a| a.key == "name") {
        Some(a) => errors.ok(a.str()).map(|s| s.value()).unwrap_or_default(),
        None => type_name(self_ty),
    };
    let explicit_output: Option<TokenStream> = args.iter().find(|a| a.key == "output").map(|a| {
        errors
            .ok(a.expr("OutputType"))
            .map(ToTokens::to_token_stream)
            .unwrap_or_default()
    });
    let defaults = match args.iter().find(|a| a.key == "defaults") {
        Some(a) => errors.ok(defaults(a)).unwrap_or_default(),
        None => Vec::new(),
    };
    let options = workflow_options(args, WORKFLOW_KEYS, &mut errors);

    // The DAG: names unique, parents known, no cycles, one on_failure and one on_success.
    let mut seen: Vec<&str> = Vec::new();
    for t in tasks {
        if seen.contains(&t.name.as_str()) {
            errors.push(syn::Error::new(
                t.name_span,
                format!("two tasks are named `{}`", t.name),
            ));
        }
        seen.push(&t.name);
    }
    for role in [Role::OnFailure, Role::OnSuccess] {
        let marked: Vec<&TaskSpec> = tasks.iter().filter(|t| t.role == role).collect();
        if marked.len() > 1 {
            errors.push(syn::Error::new(
                marked[1].fn_ident.span(),
                "a workflow has at most one on_failure and one on_success task",
            ));
        }
    }
    let dag: Vec<&TaskSpec> = tasks.iter().filter(|t| t.role == Role::Task).collect();
    let dag_names: Vec<&str> = dag.iter().map(|t| t.name.as_str()).collect();
    for t in &dag {
        for (i, parent) in t.after.iter().enumerate() {
            if t.after[..i].iter().any(|p| p.value() == parent.value()) {
                errors.push(syn::Error::new(
                    parent.span(),
                    format!("`{}` is listed twice in `after`", parent.value()),
                ));
                continue;
            }
            if !dag_names.contains(&parent.value().as_str()) {
                errors.push(syn::Error::new(
                    parent.span(),
                    format!(
                        "`after` names `{}`, which is not a task of this workflow (tasks: {})",
                        parent.value(),
                        dag_names.join(", ")
                    ),
                ));
            } else if parent.value() == t.name {
                errors.push(syn::Error::new(
                    parent.span(),
                    "a task cannot run after itself",
                ));
            }
        }
    }
    let edges: Vec<(String, Vec<String>)> = dag
        .iter()
        .map(|t| {
            let parents = t
                .after
                .iter()
                .map(LitStr::value)
                .filter(|p| dag_names.contains(&p.as_str()) && p != &t.name)
                .collect();
            (t.name.clone(), parents)
        })
        .collect();
    if let Some(cycle) = checks::cycle(&edges) {
        let culprit = dag
            .iter()
            .find(|t| t.name == cycle[0])
            .map_or(first.name_span, |t| t.name_span);
        errors.push(syn::Error::new(
            culprit,
            format!(
                "tasks {} depend on each other in a cycle",
                cycle
                    .iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }

    // Typed parents: each extra parameter names a parent in `after` (by task or fn name).
    let mut calls = Vec::new();
    for t in tasks {
        let mut parents = Vec::new();
        for (ident, _) in &t.parent_params {
            let param = ident.to_string();
            let parent = t.after.iter().map(LitStr::value).find_map(|a| {
                tasks
                    .iter()
                    .find(|o| o.name == a && (o.name == param || o.fn_ident == param))
            });
            match parent {
                Some(parent) => parents.push(task::ParentParam {
                    param,
                    task: parent.name.clone(),
                    output: parent.output_ty.clone(),
                }),
                None => errors.push(syn::Error::new(
                    ident.span(),
                    format!("parameter `{param}` is not a parent of this task: list it in `after`, or read it with `ctx.parent_output`"),
                )),
            }
        }
        let fn_ident = &t.fn_ident;
        let expr = task::task_expr(t, quote!(Self::#fn_ident), &parents, &defaults);
        let method = match t.role {
            Role::Task => quote!(task),
            Role::OnFailure => quote!(on_failure),
            Role::OnSuccess => quote!(on_success),
        };
        calls.push(quote!(.#method(#expr)));
    }
    // The run's typed output: the `output` the user named, else a struct generated here with
    // one field per task.
    let (output, output_struct) = match explicit_output {
        Some(output) => (output, None),
        None => {
            let ident = format_ident!("{}Output", type_name(self_ty));
            let generated = errors.ok(output_struct(&ident, &name, &dag));
            (ident.to_token_stream(), generated)
        }
    };
    errors.finish()?;
    let input_ty = &first.input_ty;
    Ok(quote! {
        #output_struct

        impl #p::WorkflowDefinition for #self_ty {
            type Input = #input_ty;
            type Output = #output;
            fn definition() -> ::core::result::Result<#p::Workflow<Self::Input, Self::Output>, #p::DefinitionError> {
                #p::Workflow::<Self::Input, Self::Output>::builder(#name)
                    #(#options)*
                    #(#calls)*
                    .build()
            }
        }
    })
}

/// `<Workflow>Output`: one public field per DAG task, named after its function, typed with
/// its output type (`Option<T>` for a task that a `skip_if` can skip, directly or because all
/// its parents were skipped), decoded from the run's outputs by task name.
fn output_struct(ident: &Ident, workflow: &str, dag: &[&TaskSpec]) -> syn::Result<TokenStream> {
    let p = quote!(::hatchet_rs::__private);
    let mut errors = Errors::default();
    let mut fields = Vec::new();
    let mut decodes = Vec::new();
    for t in dag {
        let Some(ty) = &t.output_ty else {
            errors.push(syn::Error::new(
                t.fn_ident.span(),
                format!(
                    "cannot see the output type of task `{}` to type the workflow's output: \
                     write its return type as `Result<Output, Error>`, or name the workflow's \
                     output yourself with `#[workflow(output = RunOutput)]`",
                    t.name
                ),
            ));
            continue;
        };
        let field = &t.fn_ident;
        let task = &t.name;
        let doc = format!("The output of task `{task}`.");
        if skippable(t, dag) {
            let doc = format!("The output of task `{task}`; `None` if it was skipped.");
            fields.push(
                quote_spanned!(ty.span()=> #[doc = #doc] pub #field: ::core::option::Option<#ty>),
            );
            decodes
                .push(quote!(#field: #p::skippable_task_field::<#ty, D::Error>(&outputs, #task)?));
        } else {
            fields.push(quote_spanned!(ty.span()=> #[doc = #doc] pub #field: #ty));
            decodes.push(quote!(#field: #p::task_field::<#ty, D::Error>(&outputs, #task)?));
        }
    }
    errors.finish()?;
    let doc = format!(
        "The outputs of a successful `{workflow}` run, one field per task (generated by `#[workflow]`)."
    );
    Ok(quote! {
        #[doc = #doc]
        // Public, as a public workflow's output must be; a private workflow's stays unreachable
        // and its fields may name private types.
        #[allow(dead_code, unreachable_pub, private_interfaces)]
        pub struct #ident {
            #(#fields,)*
        }

        impl<'de> #p::serde::Deserialize<'de> for #ident {
            fn deserialize<D: #p::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> ::core::result::Result<Self, D::Error> {
                let outputs = #p::task_outputs(deserializer)?;
                ::core::result::Result::Ok(Self { #(#decodes,)* })
            }
        }
    })
}

/// Whether `task` can be skipped: it has a `skip_if`, or every one of its parents can be.
fn skippable(task: &TaskSpec, dag: &[&TaskSpec]) -> bool {
    fn walk(task: &TaskSpec, dag: &[&TaskSpec], depth: usize) -> bool {
        if task.skip_if || depth > dag.len() {
            return task.skip_if;
        }
        let parents: Vec<&&TaskSpec> = task
            .after
            .iter()
            .filter_map(|a| dag.iter().find(|t| t.name == a.value()))
            .collect();
        !parents.is_empty() && parents.iter().all(|p| walk(p, dag, depth + 1))
    }
    walk(task, dag, 0)
}

/// `defaults(retries = 2, timeout = "30s", ...)`: builder calls placed before each task's own,
/// so a task's own keys win.
fn defaults(arg: &Arg) -> syn::Result<Vec<(String, TokenStream)>> {
    let nested = arg.nested("retries = 2, timeout = \"30s\"")?;
    let mut errors = Errors::default();
    check_keys(
        nested,
        "defaults",
        &["retries", "backoff", "timeout", "schedule_timeout"],
        &[],
        &mut errors,
    );
    let calls = nested
        .iter()
        .filter_map(|a| errors.ok(options::option(a)).map(|call| (a.name(), call)))
        .collect();
    errors.finish()?;
    Ok(calls)
}

fn type_name(ty: &Type) -> String {
    match ty {
        Type::Path(p) => p
            .path
            .segments
            .last()
            .map(|s| s.ident.to_string())
            .unwrap_or_default(),
        other => other.to_token_stream().to_string(),
    }
}
