//! Tenant-local namespaces: a prefix that keeps several environments apart on one tenant.
//!
//! Rules from reference §4.3: the namespace is lower-cased and ends in `_`; it prefixes
//! workflow names, action ids, event keys (pushed and awaited) and trigger names, unless the
//! name already starts with it. Rate-limit keys, concurrency expressions and labels are never
//! namespaced.

/// A normalised namespace prefix (`"Prod"` becomes `"prod_"`); empty means none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Namespace(String);

impl Namespace {
    /// Normalises `raw`: trims it, lower-cases it and appends `_` if it does not end in one.
    pub fn new(raw: &str) -> Self {
        let mut ns = raw.trim().to_lowercase();
        if !ns.is_empty() && !ns.ends_with('_') {
            ns.push('_');
        }
        Self(ns)
    }

    /// The prefix, such as `"prod_"`, or `""`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether there is no namespace.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Prefixes `name` unless it already starts with the namespace.
    pub fn apply(&self, name: &str) -> String {
        if name.starts_with(&self.0) {
            name.to_owned()
        } else {
            format!("{}{}", self.0, name)
        }
    }

    /// Removes the namespace from the front of `name`, if it is there.
    pub fn strip<'a>(&self, name: &'a str) -> &'a str {
        name.strip_prefix(&self.0).unwrap_or(name)
    }

    /// The action id the engine uses for `task` of `workflow`: `<ns><workflow lower>:<task>`.
    ///
    /// The engine lower-cases action ids when it stores them (reference §3.2), so the whole id
    /// is lower-cased here to make the worker's lookups match what the engine sends back.
    pub fn action_id(&self, workflow: &str, task: &str) -> String {
        format!("{}:{}", self.apply(&workflow.to_lowercase()), task).to_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_and_separator() {
        assert_eq!(Namespace::new("Prod").as_str(), "prod_");
        assert_eq!(Namespace::new("staging_").as_str(), "staging_");
        assert_eq!(Namespace::new(" Dev ").as_str(), "dev_");
        assert!(Namespace::new("").is_empty());
        assert!(Namespace::new("   ").is_empty());
    }

    #[test]
    fn applies_once() {
        let ns = Namespace::new("prod");
        assert_eq!(ns.apply("order-created"), "prod_order-created");
        assert_eq!(ns.apply("prod_order-created"), "prod_order-created");
        assert_eq!(Namespace::default().apply("order-created"), "order-created");
    }

    #[test]
    fn strips_prefix_only_when_present() {
        let ns = Namespace::new("prod");
        assert_eq!(ns.strip("prod_ingest"), "ingest");
        assert_eq!(ns.strip("ingest"), "ingest");
    }

    #[test]
    fn action_ids_are_lower_case_and_namespaced() {
        let ns = Namespace::new("Prod");
        assert_eq!(
            ns.action_id("ImportOrders", "Fetch"),
            "prod_importorders:fetch"
        );
        assert_eq!(Namespace::default().action_id("etl", "load"), "etl:load");
    }
}
