//! Attribute arguments: `key`, `key = value` and `key(nested, args)`, comma separated.
//!
//! Parsing here is shape-only; which keys exist and what their values mean is decided by
//! the workflow and task parsers, which report errors on the offending token.

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprArray, ExprLit, Ident, Lit, LitStr, Token};

/// One argument.
#[derive(Clone)]
pub(crate) struct Arg {
    pub(crate) key: Ident,
    pub(crate) value: Value,
}

#[derive(Clone)]
pub(crate) enum Value {
    /// `key`
    Flag,
    /// `key = expr`
    Expr(Expr),
    /// `key(args...)`
    Nested(Vec<Arg>),
}

/// A comma-separated list of arguments.
pub(crate) struct Args(pub(crate) Vec<Arg>);

impl Parse for Arg {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let key: Ident = input.call(syn::ext::IdentExt::parse_any)?;
        let value = if input.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            Value::Expr(input.parse()?)
        } else if input.peek(syn::token::Paren) {
            let content;
            syn::parenthesized!(content in input);
            let args: Args = content.parse()?;
            Value::Nested(args.0)
        } else {
            Value::Flag
        };
        Ok(Self { key, value })
    }
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let list = Punctuated::<Arg, Token![,]>::parse_terminated(input)?;
        Ok(Self(list.into_iter().collect()))
    }
}

impl Arg {
    pub(crate) fn name(&self) -> String {
        self.key.to_string()
    }

    pub(crate) fn span(&self) -> Span {
        match &self.value {
            Value::Expr(e) => e.span(),
            _ => self.key.span(),
        }
    }

    fn expected(&self, what: &str) -> syn::Error {
        syn::Error::new(self.span(), format!("`{}` expects {what}", self.key))
    }

    pub(crate) fn expr(&self, what: &str) -> syn::Result<&Expr> {
        match &self.value {
            Value::Expr(e) => Ok(e),
            _ => Err(syn::Error::new(
                self.key.span(),
                format!("`{}` expects a value: `{} = {what}`", self.key, self.key),
            )),
        }
    }

    pub(crate) fn str(&self) -> syn::Result<LitStr> {
        match self.expr("\"...\"")? {
            Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) => Ok(s.clone()),
            _ => Err(self.expected("a string literal")),
        }
    }

    /// A string, or an array of strings.
    pub(crate) fn strs(&self) -> syn::Result<Vec<LitStr>> {
        match self.expr("\"...\" or [\"...\", ...]")? {
            Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) => Ok(vec![s.clone()]),
            Expr::Array(ExprArray { elems, .. }) => elems
                .iter()
                .map(|e| match e {
                    Expr::Lit(ExprLit {
                        lit: Lit::Str(s), ..
                    }) => Ok(s.clone()),
                    other => Err(syn::Error::new(other.span(), "expected a string literal")),
                })
                .collect(),
            _ => Err(self.expected("a string or an array of strings")),
        }
    }

    pub(crate) fn int(&self) -> syn::Result<(i64, Span)> {
        match self.expr("an integer")? {
            Expr::Lit(ExprLit {
                lit: Lit::Int(i), ..
            }) => Ok((i.base10_parse()?, i.span())),
            _ => Err(self.expected("an integer literal")),
        }
    }

    pub(crate) fn float(&self) -> syn::Result<(f64, Span)> {
        match self.expr("a number")? {
            Expr::Lit(ExprLit {
                lit: Lit::Float(f), ..
            }) => Ok((f.base10_parse()?, f.span())),
            Expr::Lit(ExprLit {
                lit: Lit::Int(i), ..
            }) => Ok((i.base10_parse()?, i.span())),
            _ => Err(self.expected("a number literal")),
        }
    }

    pub(crate) fn bool(&self) -> syn::Result<bool> {
        match &self.value {
            Value::Flag => Ok(true),
            Value::Expr(Expr::Lit(ExprLit {
                lit: Lit::Bool(b), ..
            })) => Ok(b.value),
            _ => Err(self.expected("`true` or `false`")),
        }
    }

    pub(crate) fn flag(&self) -> syn::Result<()> {
        match &self.value {
            Value::Flag => Ok(()),
            _ => Err(syn::Error::new(
                self.span(),
                format!("`{}` takes no value: write just `{}`", self.key, self.key),
            )),
        }
    }

    pub(crate) fn nested(&self, example: &str) -> syn::Result<&[Arg]> {
        match &self.value {
            Value::Nested(args) => Ok(args),
            _ => Err(syn::Error::new(
                self.span(),
                format!(
                    "`{}` expects arguments: `{}({example})`",
                    self.key, self.key
                ),
            )),
        }
    }
}

/// Collects errors so that one macro call reports all of them at once.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    /// Keeps the value, or records the error and returns `None`.
    pub(crate) fn ok<T>(&mut self, result: syn::Result<T>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.push(e);
                None
            }
        }
    }

    pub(crate) fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

/// Rejects keys not in `allowed` and keys given twice (unless `repeatable`), listing the
/// supported keys.
pub(crate) fn check_keys(
    args: &[Arg],
    what: &str,
    allowed: &[&str],
    repeatable: &[&str],
    errors: &mut Errors,
) {
    let mut seen: Vec<String> = Vec::new();
    for arg in args {
        let name = arg.name();
        if !allowed.contains(&name.as_str()) {
            errors.push(syn::Error::new(
                arg.key.span(),
                format!(
                    "unknown {what} key `{name}`; supported keys: {}",
                    allowed.join(", ")
                ),
            ));
        } else if seen.contains(&name) && !repeatable.contains(&name.as_str()) {
            errors.push(syn::Error::new(
                arg.key.span(),
                format!("`{name}` is given twice"),
            ));
        }
        seen.push(name);
    }
}
