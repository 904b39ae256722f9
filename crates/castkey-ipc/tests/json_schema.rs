//! Keeps `docs/schema/` in step with the wire types: one JSON Schema (draft
//! 2020-12) per method's params and result, per notification's params, and
//! for the JSON-RPC envelope.
//!
//! Each schema is generated with schemars and compared with the committed
//! file; `CASTKEY_UPDATE_SCHEMA=1 cargo test -p castkey-ipc --features schema
//! --test json_schema` rewrites them. A method in `METHODS` or a
//! notification in `NOTIFICATIONS` without its entry here fails the test, so
//! a new one cannot be left out.
#![cfg(feature = "schema")]

use castkey_ipc::notification::{self, Notification, NOTIFICATIONS};
use castkey_ipc::*;
use schemars::JsonSchema;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const UPDATE_ENV: &str = "CASTKEY_UPDATE_SCHEMA";

const STALE: &str = "docs/schema is stale: run \
     CASTKEY_UPDATE_SCHEMA=1 cargo test -p castkey-ipc --features schema --test json_schema";

fn schema_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/schema")
}

/// File name → schema, for every message.
#[derive(Default)]
struct Schemas {
    files: BTreeMap<String, Value>,
    methods: Vec<&'static str>,
    notifications: Vec<&'static str>,
}

impl Schemas {
    fn add<T: JsonSchema>(&mut self, file: String, title: String, what: &str) {
        self.add_edited::<T>(file, title, what, |_| {});
    }

    /// [`Schemas::add`], with `edit` applied to the generated schema.
    fn add_edited<T: JsonSchema>(&mut self, file: String, title: String, what: &str, edit: fn(&mut Value)) {
        let mut schema = schemars::schema_for!(T).to_value();
        open_reasons(&mut schema);
        edit(&mut schema);
        let object = schema.as_object_mut().expect("a schema object");
        // The Rust type's name is of no use to other languages; say what
        // the message is instead (the type's doc comment stays, as
        // `description`).
        object.insert("title".into(), Value::String(title));
        object.insert(
            "$comment".into(),
            Value::String(format!(
                "Castkey IPC protocol {PROTOCOL_VERSION}: {what}. Generated from crates/castkey-ipc by \
                 its json_schema test; do not edit (see docs/ipc.md)."
            )),
        );
        assert!(self.files.insert(file.clone(), schema).is_none(), "{file} twice");
    }

    fn method<M: Method>(&mut self)
    where
        M::Params: JsonSchema,
        M::Result: JsonSchema,
    {
        let name = M::METHOD;
        self.methods.push(name);
        self.add::<M::Params>(
            format!("{name}.params.json"),
            format!("{name} params"),
            &format!("`params` of a `{name}` request"),
        );
        self.add::<M::Result>(
            format!("{name}.result.json"),
            format!("{name} result"),
            &format!("`result` of the answer to `{name}`"),
        );
    }

    fn notification<N: Notification>(&mut self)
    where
        N::Params: JsonSchema,
    {
        let name = N::METHOD;
        self.notifications.push(name);
        self.add::<N::Params>(
            format!("notification.{name}.json"),
            format!("{name} notification params"),
            &format!("`params` of the `{name}` notification (a subscribed connection receives it)"),
        );
    }
}

/// `data.reason` is an open set: a newer broker may send a reason this
/// version does not know (the Rust type reads it as `Unknown`, which is
/// never sent). The schema lists the known ones and allows any other string.
fn open_reasons(schema: &mut Value) {
    let Some(reason) = schema.pointer_mut("/$defs/Reason").and_then(Value::as_object_mut) else {
        return;
    };
    let Some(Value::Array(mut known)) = reason.remove("oneOf") else {
        panic!("Reason's schema is no longer a oneOf of its names: update open_reasons()")
    };
    let before = known.len();
    known.retain(|v| v["const"] != "unknown");
    assert_eq!(known.len() + 1, before, "Reason::Unknown is no longer there: update open_reasons()");
    known.push(json!({
        "type": "string",
        "description": "A reason added by a broker newer than this schema: handle it by `code` and `message`."
    }));
    reason.insert("anyOf".into(), Value::Array(known));
}

/// What the Rust envelope types leave loose because they read leniently,
/// stated as the protocol says it.
fn request_envelope(schema: &mut Value) {
    let p = &mut schema["properties"];
    p["jsonrpc"] = json!({"const": "2.0"});
    p["id"] = json!({
        "description": "Any number, string or null; the answer carries it back. Without `id` the \
                        request is a notification and is not answered (`null` is an id, and is answered).",
        "type": ["number", "string", "null"]
    });
    p["method"] = json!({"description": "A method name (see hello's `capabilities`).", "type": "string"});
    p["params"] = json!({
        "description": "An object (an array is refused with -32602), or absent for a method \
                        without params. See <method>.params.json.",
        "type": "object"
    });
}

fn response_envelope(schema: &mut Value) {
    let p = &mut schema["properties"];
    p["jsonrpc"] = json!({"const": "2.0"});
    p["id"] = json!({
        "description": "The request's `id`; `null` when the request could not be read (or the \
                        connection is refused: `busy`).",
        "type": ["number", "string", "null"]
    });
    p["result"] = json!({"description": "On success: see <method>.result.json."});
    p["error"] = json!({"$ref": "#/$defs/RpcError", "description": "On failure."});
    schema["oneOf"] = json!([{"required": ["result"]}, {"required": ["error"]}]);
}

fn all() -> Schemas {
    let mut s = Schemas::default();
    s.add_edited::<Request>(
        "envelope.request.json".into(),
        "JSON-RPC request".into(),
        "a request line (a notification when it has no `id`)",
        request_envelope,
    );
    s.add_edited::<Response>(
        "envelope.response.json".into(),
        "JSON-RPC response".into(),
        "a response line",
        response_envelope,
    );
    s.add::<RpcError>("envelope.error.json".into(), "JSON-RPC error".into(), "`error` of a failed response");

    s.method::<Hello>();
    s.method::<Token>();
    s.method::<Accounts>();
    s.method::<Providers>();
    s.method::<Login>();
    s.method::<LoginWithCode>();
    s.method::<Switch>();
    s.method::<Subscribe>();
    s.method::<SignOut>();
    s.method::<Status>();
    s.method::<Apps>();
    s.method::<AllowApp>();
    s.method::<RevokeApp>();
    s.method::<Activity>();
    s.method::<AddProvider>();
    s.method::<RemoveProvider>();
    s.method::<ProviderTemplates>();

    s.notification::<notification::ActiveChanged>();
    s.notification::<notification::SignedIn>();
    s.notification::<notification::SignedOut>();
    s.notification::<notification::ReauthRequired>();
    s.notification::<notification::Revoked>();
    s.notification::<notification::TokenRefreshed>();
    s.notification::<notification::SignInFailed>();
    s
}

/// Keys sorted at every level, whatever map serde_json was built with.
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(keys.into_iter().map(|k| (k.clone(), sorted(&map[k]))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

fn render(schema: &Value) -> String {
    let mut text = serde_json::to_string_pretty(&sorted(schema)).expect("a schema serialises");
    text.push('\n');
    text
}

#[test]
fn every_method_and_notification_has_a_schema() {
    let s = all();
    let mut listed: Vec<&str> = METHODS.to_vec();
    let mut here = s.methods.clone();
    listed.sort_unstable();
    here.sort_unstable();
    assert_eq!(here, listed, "add the new method to all() in tests/json_schema.rs");
    let mut listed: Vec<&str> = NOTIFICATIONS.to_vec();
    let mut here = s.notifications.clone();
    listed.sort_unstable();
    here.sort_unstable();
    assert_eq!(here, listed, "add the new notification to all() in tests/json_schema.rs");
    for name in METHODS {
        for part in ["params", "result"] {
            assert!(s.files.contains_key(&format!("{name}.{part}.json")), "{name}.{part}.json");
        }
    }
    for name in NOTIFICATIONS {
        assert!(s.files.contains_key(&format!("notification.{name}.json")), "notification.{name}.json");
    }
}

/// Params that take unknown fields. `hello` on purpose: a newer client may
/// say more about itself. `revoke_app` takes the client identity, the type
/// results carry too, which must stay open to fields a newer broker adds
/// (an own-tools-only method, which other clients may not call).
const ACCEPT_UNKNOWN_PARAMS: &[&str] = &["hello.params.json", "revoke_app.params.json"];

#[test]
fn params_refuse_unknown_fields_and_results_allow_them() {
    // The contract docs/ipc.md states: a typo in params is refused (hello
    // excepted: a newer client may tell more about itself); results and
    // notifications may grow, so clients must ignore what they do not know.
    let s = all();
    for (file, schema) in &s.files {
        let closed = schema.get("additionalProperties") == Some(&Value::Bool(false));
        if file.ends_with(".params.json") && schema.get("type") == Some(&Value::from("object")) {
            assert_eq!(
                closed,
                !ACCEPT_UNKNOWN_PARAMS.contains(&file.as_str()),
                "{file}: additionalProperties"
            );
        } else if file.ends_with(".result.json") || file.starts_with("notification.") {
            assert!(!closed, "{file} must allow fields a newer broker adds");
        }
    }
}

#[test]
fn committed_schemas_are_current() {
    let dir = schema_dir();
    let update = std::env::var_os(UPDATE_ENV).is_some_and(|v| !v.is_empty() && v != "0");
    let s = all();
    if update {
        std::fs::create_dir_all(&dir).expect("create docs/schema");
    }
    let mut stale = Vec::new();
    for (file, schema) in &s.files {
        let path = dir.join(file);
        let want = render(schema);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(want.as_str()) {
            if update {
                std::fs::write(&path, want).expect("write a schema");
            } else {
                stale.push(file.clone());
            }
        }
    }
    // Files of messages that no longer exist.
    for entry in std::fs::read_dir(&dir).expect("docs/schema exists").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".json") && !s.files.contains_key(&name) {
            if update {
                std::fs::remove_file(entry.path()).expect("remove a stale schema");
            } else {
                stale.push(format!("{name} (no longer generated)"));
            }
        }
    }
    assert!(stale.is_empty(), "{STALE}\n(differing, missing or extra: {})", stale.join(", "));
}
