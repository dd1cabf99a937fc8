//! Wire conformance: our `.proto` contract against the descriptors compiled into the official
//! Python SDK (pinned in `tests/python/requirements.txt`).
//!
//! Both descriptor sets are flattened into `path -> shape` entries (packages, imports,
//! messages, fields with number/type/label/oneof/optional, enums and values, services and
//! methods with streaming flags) and compared entry by entry. Every difference is printed;
//! the test fails on any difference not in [`ALLOWED_DIFFERENCES`].

use std::collections::BTreeMap;
use std::process::Command;

use hatchet_tests::{official_python, workspace_root};
use prost::Message as _;
use prost_types::{DescriptorProto, EnumDescriptorProto, FileDescriptorSet};

/// Entries allowed to differ, each with the reason. Empty: our contract matches exactly.
const ALLOWED_DIFFERENCES: &[(&str, &str)] = &[];

fn official_descriptors() -> FileDescriptorSet {
    let python = official_python("wire conformance");
    let out = std::env::temp_dir().join(format!("hatchet-official-{}.binpb", std::process::id()));
    let script = workspace_root().join("tests/conformance/dump_descriptors.py");
    let status = Command::new(&python)
        .arg(&script)
        .arg(&out)
        .status()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    assert!(
        status.success(),
        "{} {} failed: {status}",
        python.display(),
        script.display()
    );
    let bytes = std::fs::read(&out).expect("descriptor dump written");
    let _ = std::fs::remove_file(&out);
    FileDescriptorSet::decode(bytes.as_slice()).expect("a FileDescriptorSet")
}

fn flatten_enum(prefix: &str, e: &EnumDescriptorProto, out: &mut BTreeMap<String, String>) {
    let path = format!("{prefix}.{}", e.name());
    out.insert(format!("enum {path}"), String::new());
    for v in &e.value {
        out.insert(
            format!("enum value {path}.{}", v.name()),
            v.number().to_string(),
        );
    }
}

fn flatten_message(prefix: &str, m: &DescriptorProto, out: &mut BTreeMap<String, String>) {
    let path = format!("{prefix}.{}", m.name());
    let map_entry = m.options.as_ref().is_some_and(|o| o.map_entry());
    let reserved: Vec<String> = m
        .reserved_range
        .iter()
        .map(|r| format!("{}..{}", r.start(), r.end()))
        .chain(m.reserved_name.iter().cloned())
        .collect();
    out.insert(
        format!("message {path}"),
        format!("map_entry={map_entry} reserved={reserved:?}"),
    );
    for f in &m.field {
        let oneof = f
            .oneof_index
            .and_then(|i| m.oneof_decl.get(usize::try_from(i).ok()?))
            .map(|o| o.name().to_owned());
        out.insert(
            format!("field {path}.{}", f.name()),
            format!(
                "#{} {:?} {:?} type_name={} oneof={:?} proto3_optional={}",
                f.number(),
                f.label(),
                f.r#type(),
                f.type_name(),
                oneof,
                f.proto3_optional(),
            ),
        );
    }
    for nested in &m.nested_type {
        flatten_message(&path, nested, out);
    }
    for e in &m.enum_type {
        flatten_enum(&path, e, out);
    }
}

/// Every wire-relevant fact of `set`, keyed so the two sides line up.
fn flatten(set: &FileDescriptorSet) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for file in &set.file {
        if file.name().starts_with("google/") {
            continue;
        }
        let mut deps = file.dependency.clone();
        deps.sort();
        out.insert(
            format!("file {}", file.name()),
            format!(
                "package={:?} syntax={:?} imports={deps:?}",
                file.package(),
                file.syntax()
            ),
        );
        let prefix = if file.package().is_empty() {
            String::new()
        } else {
            format!(".{}", file.package())
        };
        for m in &file.message_type {
            flatten_message(&prefix, m, &mut out);
        }
        for e in &file.enum_type {
            flatten_enum(&prefix, e, &mut out);
        }
        for s in &file.service {
            let path = format!("{prefix}.{}", s.name());
            out.insert(format!("service {path}"), format!("in {}", file.name()));
            for method in &s.method {
                out.insert(
                    format!("method {path}.{}", method.name()),
                    format!(
                        "({}{}) -> ({}{})",
                        if method.client_streaming() {
                            "stream "
                        } else {
                            ""
                        },
                        method.input_type(),
                        if method.server_streaming() {
                            "stream "
                        } else {
                            ""
                        },
                        method.output_type(),
                    ),
                );
            }
        }
    }
    out
}

#[test]
fn our_contract_matches_the_official_python_sdk() {
    let official = official_descriptors();
    let ours = FileDescriptorSet::decode(hatchet_rs_proto::FILE_DESCRIPTOR_SET)
        .expect("hatchet-rs-proto embeds a FileDescriptorSet");
    let (theirs, ours) = (flatten(&official), flatten(&ours));
    assert!(
        theirs.len() > 400,
        "suspiciously few official entries: {}",
        theirs.len()
    );

    let mut differences = Vec::new();
    for (key, want) in &theirs {
        match ours.get(key) {
            None => differences.push(format!("missing: {key} = {want}")),
            Some(have) if have != want => {
                differences.push(format!(
                    "differs: {key}\n    official: {want}\n    ours:     {have}"
                ));
            }
            Some(_) => {}
        }
    }
    for (key, have) in &ours {
        if !theirs.contains_key(key) {
            differences.push(format!("extra:   {key} = {have}"));
        }
    }

    let allowed = |d: &String| {
        ALLOWED_DIFFERENCES
            .iter()
            .any(|(entry, _)| d.contains(entry))
    };
    let (tolerated, failing): (Vec<_>, Vec<_>) = differences.iter().partition(|d| allowed(d));
    for d in &tolerated {
        println!("allowed {d}");
    }
    for d in &failing {
        println!("{d}");
    }
    println!(
        "compared {} official entries with {} of ours: {} allowed, {} failing differences",
        theirs.len(),
        ours.len(),
        tolerated.len(),
        failing.len()
    );
    assert!(
        failing.is_empty(),
        "{} differences from the official contract (listed above)",
        failing.len()
    );
}

#[test]
fn flatten_sees_every_kind_of_difference() {
    // The comparison above is only as good as `flatten`: changing any wire fact of one field
    // must change its entry.
    let mut set = FileDescriptorSet::decode(hatchet_rs_proto::FILE_DESCRIPTOR_SET).expect("set");
    let before = flatten(&set);
    let message = set
        .file
        .iter_mut()
        .find(|f| f.name() == "dispatcher.proto")
        .and_then(|f| {
            f.message_type
                .iter_mut()
                .find(|m| m.name() == "AssignedAction")
        })
        .expect("AssignedAction");
    let field = message
        .field
        .iter_mut()
        .find(|f| f.name() == "retry_count")
        .expect("field");
    field.number = Some(99);
    let after = flatten(&set);
    assert_ne!(
        before["field .AssignedAction.retry_count"],
        after["field .AssignedAction.retry_count"]
    );
}
