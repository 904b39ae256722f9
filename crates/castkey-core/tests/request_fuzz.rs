//! Request parsing against arbitrary input (proptest): whatever bytes or
//! JSON a local program sends, the dispatcher answers with a well-formed
//! JSON-RPC 2.0 response or, for a notification, nothing — it never panics,
//! never answers an id it was not given, and changes nothing in the core.

use castkey_core::test_support::World;
use castkey_core::{dispatch, ClientSession};
use proptest::prelude::*;
use serde_json::{json, Value};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

/// JSON values of every kind, nested a little.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        ".{0,20}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(".{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Requests that look almost right: real method names, odd ids and params.
fn near_requests() -> impl Strategy<Value = Value> {
    let method =
        prop_oneof![prop::sample::select(castkey_ipc::METHODS.to_vec()).prop_map(Value::from), any_json(),];
    let id = prop_oneof![Just(None), any_json().prop_map(Some)];
    let version = prop_oneof![Just(json!("2.0")), any_json()];
    (version, id, method, prop::option::of(any_json())).prop_map(|(v, id, m, p)| {
        let mut o = json!({"jsonrpc": v, "method": m});
        if let Some(id) = id {
            o["id"] = id;
        }
        if let Some(p) = p {
            o["params"] = p;
        }
        o
    })
}

/// Checks one answer; `sent` is the line's `id` member if it had a usable one.
fn well_formed(answer: &castkey_ipc::Response, sent_id: Option<&Value>) {
    let v = serde_json::to_value(answer).expect("serialises");
    assert_eq!(v["jsonrpc"], "2.0");
    assert!(v.get("result").is_some() != v.get("error").is_some(), "exactly one of result/error: {v}");
    if let Some(e) = v.get("error") {
        assert!(e["code"].is_i64() && e["message"].is_string(), "{v}");
        assert!(e["data"]["reason"].is_string(), "{v}");
    }
    match sent_id {
        Some(id) if id.is_string() || id.is_number() || id.is_null() => {
            // Answered with the id it came with (or null if the request
            // was not even an object we could read).
            // The server echoes the id's text as sent; serde_json's own
            // float parsing may read a long float's text a last bit apart.
            let same = v["id"] == *id
                || matches!((v["id"].as_f64(), id.as_f64()), (Some(a), Some(b)) if (a - b).abs() <= b.abs() * 1e-15);
            assert!(same || v["id"].is_null(), "id {id} answered as {}", v["id"]);
        }
        _ => assert!(v["id"].is_null() || v["id"].is_string() || v["id"].is_number(), "{v}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_get_an_answer_and_change_nothing(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let rt = runtime();
        rt.block_on(async {
            let w = World::with_sandbox("http://127.0.0.1:9").await;
            let mut own = w.user_session();
            if let Some(a) = dispatch(&w.core, &mut own, &bytes).await {
                well_formed(&a, None);
            }
            assert!(w.core.accounts().is_empty());
            assert!(w.core.apps().is_empty());
        });
    }

    #[test]
    fn near_requests_from_an_unknown_program_are_refused_or_answered_safely(req in near_requests()) {
        let rt = runtime();
        rt.block_on(async {
            // A headless world: an unknown program is refused, nobody asked.
            let w = World::with_sandbox_listed_only("http://127.0.0.1:9").await;
            let mut stranger: ClientSession = w.session_for("/opt/stranger", None);
            let line = serde_json::to_vec(&req).expect("json");
            let answer = dispatch(&w.core, &mut stranger, &line).await;
            match (req.get("id"), answer) {
                (None, None) => {}
                (Some(id), Some(a)) => {
                    well_formed(&a, Some(id));
                    if let Some(r) = &a.result {
                        // Only `hello` answers a stranger.
                        assert_eq!(req["method"], "hello", "{req} → {r}");
                    }
                }
                (None, Some(a)) => {
                    // Only lines that are not a readable request get an
                    // answer without an id (parse / invalid request).
                    assert!(a.id.is_null() && a.error.is_some(), "{req} → {a:?}");
                }
                (Some(_), None) => panic!("a request with an id went unanswered: {req}"),
            }
            assert!(w.core.apps().is_empty(), "{req}");
            assert!(w.core.pending_consents().is_empty());
        });
    }
}
