//! `#[task(...)]` on a free `async fn`: a workflow made of that one task.
//!
//! The function stays as written; a braced struct of the same name (types and values live in
//! different namespaces) implements `WorkflowDefinition`, so `client.run::<send_email>(..)`
//! names the task the way it is declared.

use proc_macro2::TokenStream;
use quote::quote;
use syn::ItemFn;
use syn::spanned::Spanned;

use crate::args::{Args, Errors};
use crate::task::{self, Role};
use crate::workflow::{STANDALONE_KEYS, workflow_options};

pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let function: ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(_) => {
            let error = syn::Error::new(
                proc_macro2::Span::call_site(),
                "#[task] goes on an `async fn`, either free-standing or inside a `#[workflow]` impl block",
            )
            .to_compile_error();
            return quote!(#error #item);
        }
    };
    let mut errors = Errors::default();
    let args = errors
        .ok(syn::parse2::<Args>(attr))
        .map(|a| a.0)
        .unwrap_or_default();
    let spec = task::parse(&args, &function.sig, STANDALONE_KEYS, &mut errors);
    // `concurrency` of a standalone task is the task's own (task::parse), not the workflow's.
    let options = workflow_options(&args, STANDALONE_KEYS, &mut errors);
    let generated = spec.and_then(|spec| {
        if let Some(first) = spec.after.first() {
            errors.push(syn::Error::new(first.span(), "a standalone task has no other tasks to run after; put it in a #[workflow] impl"));
        }
        if spec.role != Role::Task {
            errors.push(syn::Error::new(function.sig.ident.span(), "on_failure and on_success mark tasks of a #[workflow] impl"));
        }
        if let Some((ident, _)) = spec.parent_params.first() {
            errors.push(syn::Error::new(ident.span(), "a standalone task has no parents: take only `input` and `ctx`"));
        }
        let Some(output) = spec.output_ty.clone() else {
            errors.push(syn::Error::new(
                function.sig.output.span(),
                "write the return type as `Result<Output, Error>` so the run's output type is known",
            ));
            return None;
        };
        let p = quote!(::hatchet_rs::__private);
        let ident = &function.sig.ident;
        let vis = &function.vis;
        let input = &spec.input_ty;
        let task = task::task_expr(&spec, quote!(#ident), &[], &[]);
        let doc = format!("The standalone task workflow of [`{ident}()`]: run it with `client.run::<{ident}>(..)`.");
        Some(quote! {
            #[doc = #doc]
            #[allow(non_camel_case_types)]
            #[derive(Debug, Clone, Copy)]
            #vis struct #ident {}

            impl #p::WorkflowDefinition for #ident {
                type Input = #input;
                type Output = #output;
                fn definition() -> ::core::result::Result<#p::Workflow<Self::Input, Self::Output>, #p::DefinitionError> {
                    #p::Workflow::<Self::Input, Self::Output>::standalone(#task)
                        #(#options)*
                        .build()
                }
            }
        })
    });
    // With errors, only they are emitted: code generated from a rejected definition would
    // only add type errors that restate them.
    match errors.finish() {
        Ok(()) => quote!(#function #generated),
        Err(e) => {
            let e = e.to_compile_error();
            quote!(#function #e)
        }
    }
}
