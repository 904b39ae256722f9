//! The IPC dispatch as a broadcasting app meets it: every malformed or odd
//! line gets a clear JSON-RPC answer, and nothing changes in the core.

use castkey_core::dispatch;
use castkey_core::test_support::World;
use serde_json::{json, Value};

async fn ask(w: &World, line: &str) -> Option<Value> {
    // The person, at a terminal: every method is theirs to call.
    let mut session = w.user_session();
    let answer = dispatch(&w.core, &mut session, line.as_bytes()).await;
    answer.map(|r| serde_json::to_value(r).expect("response serialises"))
}

async fn world() -> World {
    // Nothing listens on port 9: no request here may need the provider.
    // Headless: a program nobody approved is refused, nobody is asked.
    World::with_sandbox_listed_only("http://127.0.0.1:9").await
}

#[tokio::test]
async fn a_line_that_is_not_json_is_a_parse_error_with_a_null_id() {
    let w = world().await;
    let a = ask(&w, "{not json").await.expect("answered");
    assert_eq!(a["error"]["code"], -32700);
    assert_eq!(a["id"], Value::Null);
    assert_eq!(a["error"]["data"]["reason"], "invalid_request");
}

#[tokio::test]
async fn a_null_id_is_answered_and_only_a_missing_id_is_a_notification() {
    let w = world().await;
    let a = ask(&w, r#"{"jsonrpc":"2.0","id":null,"method":"accounts"}"#).await.expect("answered");
    assert_eq!(a["id"], Value::Null);
    assert_eq!(a["result"], json!([]));
    assert!(ask(&w, r#"{"jsonrpc":"2.0","method":"accounts"}"#).await.is_none());
    let a = ask(&w, r#"{"jsonrpc":"2.0","id":"x-1","method":"accounts"}"#).await.expect("answered");
    assert_eq!(a["id"], "x-1");
}

#[tokio::test]
async fn positional_or_scalar_params_are_refused_not_guessed() {
    let w = world().await;
    for params in [r#"["sandbox:streamer", "broadcaster"]"#, r#""sandbox""#, "42"] {
        let line = format!(r#"{{"jsonrpc":"2.0","id":7,"method":"token","params":{params}}}"#);
        let a = ask(&w, &line).await.expect("answered");
        assert_eq!(a["error"]["code"], -32602, "{params}: {a}");
        assert_eq!(a["id"], 7);
    }
    let a = ask(&w, r#"{"jsonrpc":"2.0","id":8,"method":"token","params":{"colour":"red"}}"#).await.unwrap();
    assert_eq!(a["error"]["code"], -32602, "{a}");
}

#[tokio::test]
async fn unknown_methods_wrong_versions_and_odd_ids_are_refused() {
    let w = world().await;
    let a = ask(&w, r#"{"jsonrpc":"2.0","id":1,"method":"refresh_token"}"#).await.unwrap();
    assert_eq!(a["error"]["code"], -32601);
    let a = ask(&w, r#"{"jsonrpc":"1.0","id":2,"method":"accounts"}"#).await.unwrap();
    assert_eq!(a["error"]["data"]["reason"], "invalid_request");
    assert_eq!(a["id"], 2);
    let a = ask(&w, r#"{"jsonrpc":"2.0","id":{"a":1},"method":"accounts"}"#).await.unwrap();
    assert_eq!(a["error"]["data"]["reason"], "invalid_request");
    assert_eq!(a["id"], Value::Null);
}

#[tokio::test]
async fn a_token_with_nobody_signed_in_says_so() {
    let w = world().await;
    let a = ask(&w, r#"{"jsonrpc":"2.0","id":3,"method":"token"}"#).await.unwrap();
    assert_eq!(a["error"]["data"]["reason"], "not_signed_in");
    assert!(w.secrets.names().is_empty(), "nothing was written to the keychain");
}

#[tokio::test]
async fn every_method_in_the_table_has_a_handler_and_the_rule_comes_first() {
    let w = world().await;
    for method in castkey_ipc::METHODS {
        // The person may call everything: each method reaches its handler
        // (bad params, or an answer), never "method not found".
        let line = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":{{"bogus_member":1}}}}"#);
        let a = ask(&w, &line).await.expect("answered");
        assert_ne!(a["error"]["code"], -32601, "{method} has a class but no handler: {a}");
        // A program nobody approved, on a headless broker: refused by the
        // rule before its parameters are even read (hello excepted).
        let mut stranger = w.session_for("/tmp/stranger", None);
        let answer = castkey_core::dispatch(&w.core, &mut stranger, line.as_bytes()).await.unwrap();
        let answer = serde_json::to_value(answer).unwrap();
        match castkey_ipc::access_of(method) {
            Some(castkey_ipc::Access::Open) => {
                assert_ne!(answer["error"]["data"]["reason"], "client_not_allowed")
            }
            Some(_) if *method == "token" => {} // its params come first: the prompt shows them
            Some(_) => {
                assert_eq!(answer["error"]["data"]["reason"], "client_not_allowed", "{method}: {answer}")
            }
            None => unreachable!(),
        }
    }
}
