//! The engine under arbitrary and boundary input: every gRPC method of every service in the
//! protocol's descriptors, and every REST route the engine serves, called with generated
//! requests (zero, negative, the largest and smallest numbers, durations past Go's limit,
//! far-off timestamps, ids of things that exist and things that do not, broken JSON and CEL,
//! empty and huge strings). Afterwards the engine must have counted no panic, still run a
//! normal workflow, and still fire its timers.
//!
//! ```text
//! cargo test -p hatchet-rs-engine --test fuzz -- --nocapture                    # CI size
//! HATCHET_FUZZ_CASES=2000 HATCHET_FUZZ_SEED=7 cargo test --release -p hatchet-rs-engine --test fuzz -- --nocapture
//! ```
//!
//! Messages are built from the descriptors (`prost-reflect`), so a method added to the
//! protocol is fuzzed without a line here; REST routes are listed below, as the engine's
//! router lists them.

#![allow(clippy::unwrap_used)] // a broken harness should fail loudly

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::{Buf, BufMut};
use hatchet_rs::testing::{TaskStatus, TestEngine};
use hatchet_rs_proto as pb;
use prost::Message as _;
use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor,
    MethodDescriptor, Value,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

/// Calls per gRPC method and requests per REST route.
fn cases() -> usize {
    std::env::var("HATCHET_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100)
}

fn seed() -> u64 {
    std::env::var("HATCHET_FUZZ_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_261_208)
}

/// How long one call may take before the engine counts as stuck.
const CALL_LIMIT: Duration = Duration::from_secs(10);

/// Bytes in, bytes out: requests are encoded from dynamic messages, answers are not read.
#[derive(Debug, Clone, Default)]
struct RawCodec;

#[derive(Debug)]
struct RawEncoder;

#[derive(Debug)]
struct RawDecoder;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        RawEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

/// Strings worth trying: ids that exist (filled in once the engine has some), and values
/// at the edges of what the engine parses.
struct Dictionary {
    strings: Vec<String>,
    /// Ids of things that exist: a call naming one reaches past the lookup.
    known: Vec<String>,
}

impl Dictionary {
    fn new(known: Vec<String>) -> Self {
        let mut strings: Vec<String> = [
            "",
            "x",
            "default",
            "0",
            "-1",
            "18446744073709551615",
            "9223372036854775807",
            "1s",
            "0s",
            "250ms",
            "2562047h",
            "2562048h",
            "3000000000000000h",
            "1d",
            "99999999y",
            "-5m",
            "* * * * *",
            "0 0 31 2 *",
            "not a cron",
            "input.x",
            "input.x > 1",
            "input.missing.deeper",
            "1 / 0",
            "'a' + 1",
            "payload.x == 'y'",
            "true",
            "1.0e19",
            "-1.0e19",
            "{}",
            "{\"x\": 1, \"customer\": \"a\"}",
            "[1, 2, 3]",
            "null",
            "{\"unterminated\": ",
            "not json",
            "\u{0}",
            "é😀",
            "2026-12-08T00:00:00Z",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "not-a-time",
            "00000000-0000-0000-0000-000000000000",
            "ffffffff-ffff-ffff-ffff-ffffffffffff",
            "wf:task",
            "a:b:c:d",
            "CANCEL_IN_PROGRESS",
            "GROUP_ROUND_ROBIN",
            "DROP",
            "QUEUE",
            "COMPLETED",
            "FAILED",
            "RUNNING",
            "ASC",
            "DESC",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        strings.push("a".repeat(20_000));
        Self { strings, known }
    }

    /// For a field that names something (`*_id`, `*Id`, `name`, `key`): mostly known ids.
    fn id(&self, rng: &mut StdRng) -> String {
        if !self.known.is_empty() && rng.random_bool(0.7) {
            return self.known[rng.random_range(0..self.known.len())].clone();
        }
        self.string(rng)
    }

    fn string(&self, rng: &mut StdRng) -> String {
        if rng.random_bool(0.1) {
            return uuid_like(rng);
        }
        if !self.known.is_empty() && rng.random_bool(0.3) {
            return self.known[rng.random_range(0..self.known.len())].clone();
        }
        self.strings[rng.random_range(0..self.strings.len())].clone()
    }
}

fn uuid_like(rng: &mut StdRng) -> String {
    let b: [u8; 16] = rng.random();
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        u16::from_be_bytes([b[4], b[5]]),
        u16::from_be_bytes([b[6], b[7]]) & 0xfff,
        u16::from_be_bytes([b[8], b[9]]) & 0xfff,
        u64::from_be_bytes([0, 0, b[10], b[11], b[12], b[13], b[14], b[15]])
    )
}

fn pick<T: Copy>(rng: &mut StdRng, values: &[T]) -> T {
    values[rng.random_range(0..values.len())]
}

fn i64_value(rng: &mut StdRng) -> i64 {
    if rng.random_bool(0.7) {
        pick(
            rng,
            &[
                0,
                1,
                -1,
                2,
                3,
                i64::MIN,
                i64::MAX,
                i64::MAX,
                i64::from(i32::MAX),
                i64::from(i32::MIN),
            ],
        )
    } else {
        rng.random_range(-1000..1000)
    }
}

fn single(kind: &Kind, rng: &mut StdRng, dict: &Dictionary, depth: u32, id_like: bool) -> Value {
    match kind {
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(
            i32::try_from(i64_value(rng)).unwrap_or_else(|_| pick(rng, &[i32::MIN, i32::MAX])),
        ),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(i64_value(rng)),
        Kind::Uint32 | Kind::Fixed32 => Value::U32(pick(rng, &[0, 1, 2, u32::MAX, 100])),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(pick(rng, &[0, 1, 2, u64::MAX, 100])),
        Kind::Float => Value::F32(pick(rng, &[0.0, -1.0, 1.5, f32::NAN, f32::INFINITY])),
        Kind::Double => Value::F64(pick(rng, &[0.0, -1.0, 1.5, f64::NAN, f64::MAX])),
        Kind::Bool => Value::Bool(rng.random()),
        Kind::String if id_like => Value::String(dict.id(rng)),
        Kind::String => Value::String(dict.string(rng)),
        Kind::Bytes => Value::Bytes(dict.string(rng).into_bytes().into()),
        Kind::Message(message) => Value::Message(message_of(message, rng, dict, depth + 1)),
        Kind::Enum(e) => {
            let numbers: Vec<i32> = e.values().map(|v| v.number()).collect();
            if numbers.is_empty() || rng.random_bool(0.1) {
                Value::EnumNumber(pick(rng, &[-1, 99, i32::MAX]))
            } else {
                Value::EnumNumber(pick(rng, &numbers))
            }
        }
    }
}

fn field_value(field: &FieldDescriptor, rng: &mut StdRng, dict: &Dictionary, depth: u32) -> Value {
    let name = field.name().to_ascii_lowercase();
    let id_like = name.ends_with("id")
        || name.ends_with("ids")
        || name.contains("name")
        || name.contains("key")
        || name == "action";
    if field.is_map() {
        let Kind::Message(entry) = field.kind() else {
            return Value::Map(HashMap::new());
        };
        let key_kind = entry.map_entry_key_field().kind();
        let value_kind = entry.map_entry_value_field().kind();
        let mut map = HashMap::new();
        for _ in 0..rng.random_range(0..3) {
            let key = match key_kind {
                Kind::String => MapKey::String(dict.string(rng)),
                Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => MapKey::I32(rng.random()),
                Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => MapKey::I64(rng.random()),
                Kind::Uint32 | Kind::Fixed32 => MapKey::U32(rng.random()),
                Kind::Uint64 | Kind::Fixed64 => MapKey::U64(rng.random()),
                _ => MapKey::Bool(rng.random()),
            };
            map.insert(key, single(&value_kind, rng, dict, depth, false));
        }
        Value::Map(map)
    } else if field.is_list() {
        Value::List(
            (0..rng.random_range(0..4))
                .map(|_| single(&field.kind(), rng, dict, depth, id_like))
                .collect(),
        )
    } else {
        single(&field.kind(), rng, dict, depth, id_like)
    }
}

fn message_of(
    descriptor: &MessageDescriptor,
    rng: &mut StdRng,
    dict: &Dictionary,
    depth: u32,
) -> DynamicMessage {
    let mut message = DynamicMessage::new(descriptor.clone());
    if depth > 4 {
        return message;
    }
    for field in descriptor.fields() {
        if rng.random_bool(0.7) {
            let value = field_value(&field, rng, dict, depth);
            message.set_field(&field, value);
        }
    }
    message
}

async fn call(
    channel: &tonic::transport::Channel,
    token: &str,
    method: &MethodDescriptor,
    requests: Vec<Vec<u8>>,
) -> Result<(), String> {
    let path = format!("/{}/{}", method.parent_service().full_name(), method.name());
    let path = http::uri::PathAndQuery::try_from(path.as_str()).map_err(|e| e.to_string())?;
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.map_err(|e| e.to_string())?;
    fn authorized<T>(token: &str, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        request
    }
    let first = requests.first().cloned().unwrap_or_default();
    match (method.is_client_streaming(), method.is_server_streaming()) {
        (false, false) => {
            let _ = grpc.unary(authorized(token, first), path, RawCodec).await;
        }
        (false, true) => {
            if let Ok(response) = grpc
                .server_streaming(authorized(token, first), path, RawCodec)
                .await
            {
                let mut stream = response.into_inner();
                let _ = tokio::time::timeout(Duration::from_millis(50), stream.message()).await;
            }
        }
        _ => {
            let outgoing = tokio_stream::iter(requests);
            if let Ok(response) = grpc
                .streaming(authorized(token, outgoing), path, RawCodec)
                .await
            {
                let mut stream = response.into_inner();
                for _ in 0..3 {
                    if !matches!(
                        tokio::time::timeout(Duration::from_millis(50), stream.message()).await,
                        Ok(Ok(Some(_)))
                    ) {
                        break;
                    }
                }
            }
        }
    }
    Ok(())
}

/// The REST routes the engine serves, as its router lists them.
const ROUTES: &[(&str, &str)] = &[
    ("POST", "/api/v1/stable/tenants/{tenant}/tasks/cancel"),
    (
        "POST",
        "/api/v1/stable/tenants/{tenant}/durable-tasks/branch",
    ),
    ("POST", "/api/v1/stable/tenants/{tenant}/tasks/replay"),
    ("PATCH", "/api/v1/workers/{id}"),
    ("GET", "/api/v1/workers/{id}"),
    ("GET", "/api/v1/tenants/{tenant}/worker"),
    ("GET", "/api/v1/tenants/{tenant}"),
    ("GET", "/api/v1/stable/tenants/{tenant}/events"),
    ("GET", "/api/v1/stable/tenants/{tenant}/events/{id}"),
    ("GET", "/api/v1/tenants/{tenant}/step-run-queue-metrics"),
    ("GET", "/api/v1/tenants/{tenant}/task-stats"),
    ("GET", "/api/v1/tenants/{tenant}/prometheus-metrics"),
    ("GET", "/api/v1/stable/tenants/{tenant}/webhooks"),
    ("POST", "/api/v1/stable/tenants/{tenant}/webhooks"),
    ("GET", "/api/v1/stable/tenants/{tenant}/webhooks/{id}"),
    ("PATCH", "/api/v1/stable/tenants/{tenant}/webhooks/{id}"),
    ("DELETE", "/api/v1/stable/tenants/{tenant}/webhooks/{id}"),
    ("POST", "/api/v1/stable/tenants/{tenant}/webhooks/{id}"),
    ("POST", "/api/v1/stable/tenants/{tenant}/cel/debug"),
    ("GET", "/api/v1/tenants/{tenant}/workflows"),
    ("GET", "/api/v1/workflows/{id}"),
    ("PATCH", "/api/v1/workflows/{id}"),
    ("DELETE", "/api/v1/workflows/{id}"),
    ("GET", "/api/v1/workflows/{id}/versions"),
    ("GET", "/api/v1/stable/tenants/{tenant}/filters"),
    ("POST", "/api/v1/stable/tenants/{tenant}/filters"),
    ("GET", "/api/v1/stable/tenants/{tenant}/filters/{id}"),
    ("PATCH", "/api/v1/stable/tenants/{tenant}/filters/{id}"),
    ("DELETE", "/api/v1/stable/tenants/{tenant}/filters/{id}"),
    ("GET", "/api/v1/stable/tenants/{tenant}/workflow-runs"),
    (
        "POST",
        "/api/v1/stable/tenants/{tenant}/workflow-runs/trigger",
    ),
    (
        "GET",
        "/api/v1/stable/tenants/{tenant}/workflow-runs/external-ids",
    ),
    ("GET", "/api/v1/stable/workflow-runs/{id}"),
    ("GET", "/api/v1/stable/workflow-runs/{id}/status"),
    ("GET", "/api/v1/stable/tasks/{id}"),
    ("GET", "/api/v1/stable/tasks/{id}/logs"),
    ("POST", "/api/v1/stable/tasks/{id}/restore"),
    ("GET", "/api/v1/tenants/{tenant}/rate-limits"),
    ("GET", "/api/v1/stable/tenants/{tenant}/task-metrics"),
    ("GET", "/api/v1/tenants/{tenant}/workflows/crons"),
    ("GET", "/api/v1/tenants/{tenant}/workflows/crons/{id}"),
    ("DELETE", "/api/v1/tenants/{tenant}/workflows/crons/{id}"),
    ("POST", "/api/v1/tenants/{tenant}/workflows/{id}/crons"),
    ("GET", "/api/v1/tenants/{tenant}/workflows/scheduled"),
    (
        "POST",
        "/api/v1/tenants/{tenant}/workflows/scheduled/bulk-delete",
    ),
    (
        "POST",
        "/api/v1/tenants/{tenant}/workflows/scheduled/bulk-update",
    ),
    ("GET", "/api/v1/tenants/{tenant}/workflows/scheduled/{id}"),
    ("PATCH", "/api/v1/tenants/{tenant}/workflows/scheduled/{id}"),
    (
        "DELETE",
        "/api/v1/tenants/{tenant}/workflows/scheduled/{id}",
    ),
    ("POST", "/api/v1/tenants/{tenant}/workflows/{id}/scheduled"),
];

/// Query parameters the engine's routes read (the contract's names).
const QUERY_NAMES: &[&str] = &[
    "offset",
    "limit",
    "since",
    "until",
    "statuses",
    "workflow_ids",
    "worker_id",
    "parent_task_external_id",
    "triggering_event_external_id",
    "additional_metadata",
    "only_tasks",
    "include_payloads",
    "keys",
    "workflowId",
    "workflowName",
    "cronName",
    "orderByField",
    "orderByDirection",
    "search",
    "levels",
    "attempt",
    "scopes",
    "version",
    "eventIds",
    "sourceNames",
    "webhookNames",
    "workflowRunId",
    "parentTaskExternalId",
    "statuses[]",
];

fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A JSON value from the dictionary's strings, numbers at the edges, and nested objects
/// whose keys are names the engine's bodies use.
fn json_value(rng: &mut StdRng, dict: &Dictionary, depth: u32) -> serde_json::Value {
    use serde_json::json;
    const KEYS: &[&str] = &[
        "input",
        "additionalMetadata",
        "workflowName",
        "cronName",
        "cronExpression",
        "priority",
        "triggerAt",
        "externalIds",
        "filter",
        "since",
        "until",
        "statuses",
        "workflowIds",
        "expression",
        "scope",
        "payload",
        "name",
        "sourceName",
        "eventKeyExpression",
        "auth",
        "isPaused",
        "pause",
        "action",
        "pausedWorkflowQueueTTL",
        "pausedWorkflowCronRunQueueBehavior",
        "pausedWorkflowScheduledRunQueueBehavior",
        "taskExternalId",
        "nodeId",
        "branchId",
        "scheduledWorkflowRunIds",
        "updates",
        "id",
        "isActive",
        "workflowId",
    ];
    match rng.random_range(0..if depth > 2 { 5 } else { 8 }) {
        0 => serde_json::Value::Null,
        1 => json!(rng.random::<bool>()),
        2 => json!(i64_value(rng)),
        3 => json!(pick(rng, &[0.5, -1.0e19, 1.0e300])),
        4 => json!(dict.string(rng)),
        5 => serde_json::Value::Array(
            (0..rng.random_range(0..4))
                .map(|_| json_value(rng, dict, depth + 1))
                .collect(),
        ),
        _ => serde_json::Value::Object(
            (0..rng.random_range(0..6))
                .map(|_| (pick(rng, KEYS).to_owned(), json_value(rng, dict, depth + 1)))
                .collect(),
        ),
    }
}

/// One HTTP/1.1 request; true if the engine answered with a status line.
fn http(addr: std::net::SocketAddr, request: String) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(CALL_LIMIT));
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    answer.starts_with(b"HTTP/1.1 ")
}

/// Registers a one-task workflow, runs it to the end with a raw worker, and returns the ids
/// that came up on the way.
async fn normal_run(engine: &TestEngine, name: &str, timeout: &str) -> (Vec<String>, String) {
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", engine.addr()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let token: tonic::metadata::MetadataValue<_> =
        format!("Bearer {}", engine.token()).parse().unwrap();
    let authorized = move |mut request: tonic::Request<()>| {
        request
            .metadata_mut()
            .insert("authorization", token.clone());
        Ok(request)
    };
    let mut admin = pb::v1::admin_service_client::AdminServiceClient::with_interceptor(
        channel.clone(),
        authorized.clone(),
    );
    admin
        .put_workflow(pb::v1::CreateWorkflowVersionRequest {
            name: name.to_owned(),
            tasks: vec![pb::v1::CreateTaskOpts {
                readable_id: "task".to_owned(),
                action: format!("{name}:task"),
                timeout: timeout.to_owned(),
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .unwrap();
    let mut dispatcher =
        pb::dispatcher_client::DispatcherClient::with_interceptor(channel, authorized);
    let worker_id = dispatcher
        .register(pb::WorkerRegisterRequest {
            worker_name: format!("{name}-worker"),
            actions: vec![format!("{name}:task")],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .worker_id;
    let mut actions = dispatcher
        .listen_v2(pb::WorkerListenRequest {
            worker_id: worker_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let run = engine
        .client()
        .runs()
        .trigger(name, &serde_json::json!({"x": 1}), Default::default())
        .await
        .unwrap();
    let action = tokio::time::timeout(CALL_LIMIT, actions.message())
        .await
        .expect("the engine assigns the task")
        .unwrap()
        .unwrap();
    let ids = vec![
        name.to_owned(),
        run.id().to_owned(),
        action.task_run_external_id.clone(),
        worker_id.clone(),
        engine.tenant_id().to_owned(),
        format!("{name}:task"),
    ];
    (ids, action.task_run_external_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_request_panics_the_engine_or_stops_its_clock() {
    let engine = TestEngine::builder().manual_clock().start().await.unwrap();
    let (mut known, _) = normal_run(&engine, "fuzz-seed", "60s").await;
    let workflow_id = engine
        .client()
        .workflows()
        .find("fuzz-seed")
        .await
        .ok()
        .map(|w| w.metadata.id);
    known.extend(workflow_id);
    let dict = Dictionary::new(known.clone());
    let mut rng = StdRng::seed_from_u64(seed());
    let pool = DescriptorPool::decode(pb::FILE_DESCRIPTOR_SET).unwrap();
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", engine.addr()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let cases = cases();
    let mut grpc_calls = 0;
    let mut methods = 0;
    for service in pool.services() {
        for method in service.methods() {
            methods += 1;
            for _ in 0..cases {
                let requests = (0..rng.random_range(1..4))
                    .map(|_| message_of(&method.input(), &mut rng, &dict, 0).encode_to_vec())
                    .collect();
                let answered = tokio::time::timeout(
                    CALL_LIMIT,
                    call(&channel, engine.token(), &method, requests),
                )
                .await;
                assert!(
                    answered.is_ok(),
                    "{} did not answer within {CALL_LIMIT:?}",
                    method.full_name()
                );
                grpc_calls += 1;
            }
            // Time passes between methods: whatever the calls set up comes due.
            engine.clock().advance(Duration::from_secs(61));
        }
    }
    // Stream chunks wait out a gap for a second of real time before they are flushed.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let mut rest_requests = 0;
    for (verb, route) in ROUTES {
        for _ in 0..cases {
            let mut path = route.replace("{tenant}", engine.tenant_id());
            let id = if rng.random_bool(0.7) {
                known[rng.random_range(0..known.len())].clone()
            } else {
                dict.string(&mut rng)
            };
            path = path.replace("{id}", &percent(&id));
            let query: Vec<String> = (0..rng.random_range(0..4))
                .map(|_| {
                    format!(
                        "{}={}",
                        pick(&mut rng, QUERY_NAMES),
                        percent(&dict.string(&mut rng))
                    )
                })
                .collect();
            if !query.is_empty() {
                path = format!("{path}?{}", query.join("&"));
            }
            let body = if *verb == "GET" || rng.random_bool(0.1) {
                String::new()
            } else {
                json_value(&mut rng, &dict, 0).to_string()
            };
            let auth = if rng.random_bool(0.95) {
                format!("Authorization: Bearer {}\r\n", engine.token())
            } else {
                String::new()
            };
            let request = format!(
                "{verb} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\n\r\n{body}",
                engine.addr(),
                body.len()
            );
            let addr = engine.addr();
            let answered = tokio::time::timeout(
                CALL_LIMIT,
                tokio::task::spawn_blocking(move || http(addr, request)),
            )
            .await;
            assert!(
                matches!(answered, Ok(Ok(true))),
                "{verb} {route} got no answer"
            );
            rest_requests += 1;
        }
        engine.clock().advance(Duration::from_secs(61));
    }
    eprintln!(
        "fuzz: {grpc_calls} gRPC calls over {methods} methods, {rest_requests} REST requests over {} routes (seed {}): {} panics",
        ROUTES.len(),
        seed(),
        engine.panics()
    );
    assert_eq!(
        engine.panics(),
        0,
        "the engine panicked (see its log above)"
    );

    // The engine still runs a normal workflow and still fires its timers.
    let (_, task) = normal_run(&engine, "fuzz-after", "5s").await;
    engine.clock().advance(Duration::from_secs(6));
    let timed_out = engine
        .wait_for_task_status(&task, TaskStatus::Failed, CALL_LIMIT)
        .await
        .expect("the tick still times tasks out");
    assert_eq!(
        timed_out.error.as_deref(),
        Some("Task exceeded timeout of 5s")
    );
    assert_eq!(engine.panics(), 0);
}
