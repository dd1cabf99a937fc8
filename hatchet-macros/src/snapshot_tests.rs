//! Expansion snapshots: the exact code the macros generate for representative inputs, checked
//! in under `tests/snapshots/`. Regenerate with `UPDATE_SNAPSHOTS=1 cargo test -p hatchet-rs-macros`.

use quote::quote;

fn pretty(tokens: proc_macro2::TokenStream) -> String {
    let file: syn::File = syn::parse2(tokens).expect("the expansion parses as a file");
    prettyplease::unparse(&file)
}

fn check(name: &str, expanded: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/snapshots/{name}.expanded.rs"));
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, expanded).expect("write snapshot");
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_SNAPSHOTS=1)", path.display()));
    assert_eq!(
        expanded, want,
        "expansion of {name} changed; run with UPDATE_SNAPSHOTS=1 if intended"
    );
}

/// Lines of the generated `impl WorkflowDefinition`, which must stay about one per task.
fn generated_lines(expanded: &str) -> usize {
    let start = expanded
        .find("impl ::hatchet_rs::__private::WorkflowDefinition")
        .expect("generated impl");
    expanded[start..].lines().count()
}

#[test]
fn workflow_expansion() {
    let expanded = pretty(crate::workflow::expand(
        quote!(
            name = "checkout",
            on_events = ["order:placed"],
            defaults(retries = 1)
        ),
        quote! {
            impl Checkout {
                #[task(retries = 3, timeout = "30s")]
                async fn fetch(order: Order, ctx: Context) -> Result<Fetched, TaskError> { todo!() }

                #[task(after = "fetch", rate_limit(key = "payments", units = 1))]
                async fn charge(order: Order, fetch: Fetched, ctx: Context) -> Result<Charged, TaskError> { todo!() }

                #[task(on_failure)]
                async fn alert(order: Order, ctx: Context) -> Result<(), TaskError> { todo!() }
            }
        },
    ));
    assert!(!expanded.contains("compile_error"), "{expanded}");
    assert!(
        generated_lines(&expanded) < 50,
        "the generated code grew:\n{expanded}"
    );
    check("workflow", &expanded);
}

#[test]
fn standalone_expansion() {
    let expanded = pretty(crate::standalone::expand(
        quote!(retries = 2, on_crons = ["0 * * * *"]),
        quote! {
            pub async fn send_welcome(input: Signup, ctx: Context) -> Result<Sent, TaskError> { todo!() }
        },
    ));
    assert!(!expanded.contains("compile_error"), "{expanded}");
    assert!(
        generated_lines(&expanded) < 25,
        "the generated code grew:\n{expanded}"
    );
    check("standalone", &expanded);
}

#[test]
fn errors_keep_the_user_items() {
    let expanded = crate::workflow::expand(
        quote!(),
        quote! {
            impl W {
                #[task(retry = 1)]
                async fn a(i: I, ctx: Context) -> Result<(), TaskError> { todo!() }
            }
        },
    )
    .to_string();
    assert!(expanded.contains("compile_error"), "{expanded}");
    assert!(
        expanded.contains("async fn a"),
        "the function must survive: {expanded}"
    );
    assert_eq!(
        expanded.matches("compile_error").count(),
        1,
        "one mistake, one error: {expanded}"
    );
}
