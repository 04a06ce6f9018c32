//! JSON-RPC 1.0 exactly as ovsdb-server speaks it (RFC 7047 §4).
//!
//! - requests carry `"id"` (any JSON), `"method"`, `"params"`;
//! - notifications are requests with `"id": null`;
//! - replies carry `"id"`, `"result"` and `"error"`, where `"error": null` on
//!   success and the error may be a string or an object (`{"error":..,"details":..}`);
//!   error replies may omit `"result"`.
//!
//! `result` and `params` are kept as raw JSON so large payloads (monitor
//! replies) are decoded once, directly into their typed form, by the caller.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value as Json;

#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    #[error("malformed JSON-RPC message: {0}")]
    Json(#[from] serde_json::Error),
    #[error("malformed JSON-RPC message: {0}")]
    Shape(&'static str),
}

/// An error reply from the server.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{error}{}", details.as_ref().map(|d| format!(": {d}")).unwrap_or_default())]
pub struct RpcErrorReply {
    pub error: String,
    pub details: Option<String>,
}

impl RpcErrorReply {
    fn from_json(v: Json) -> Self {
        match v {
            Json::String(s) => RpcErrorReply { error: s, details: None },
            Json::Object(mut o) => RpcErrorReply {
                error: match o.remove("error") {
                    Some(Json::String(s)) => s,
                    Some(other) => other.to_string(),
                    None => Json::Object(o.clone()).to_string(),
                },
                details: o.remove("details").map(|d| match d {
                    Json::String(s) => s,
                    other => other.to_string(),
                }),
            },
            other => RpcErrorReply { error: other.to_string(), details: None },
        }
    }
}

#[derive(Debug)]
pub enum Message {
    Request { id: Json, method: String, params: Box<RawValue> },
    Notification { method: String, params: Box<RawValue> },
    Reply { id: Json, result: Result<Box<RawValue>, RpcErrorReply> },
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    id: Option<Json>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    params: Option<Box<RawValue>>,
    #[serde(default)]
    result: Option<Box<RawValue>>,
    #[serde(default)]
    error: Option<Json>,
}

fn empty_params() -> Box<RawValue> {
    RawValue::from_string("[]".to_string()).expect("valid JSON")
}

impl Message {
    /// Parses one complete frame.
    pub fn parse(frame: &[u8]) -> Result<Message, MessageError> {
        let env: Envelope = serde_json::from_slice(frame)?;
        let id = env.id.filter(|id| !id.is_null());
        if let Some(method) = env.method {
            let params = env.params.unwrap_or_else(empty_params);
            return Ok(match id {
                Some(id) => Message::Request { id, method, params },
                None => Message::Notification { method, params },
            });
        }
        let id = id.ok_or(MessageError::Shape("a reply without an id"))?;
        let result = match env.error.filter(|e| !e.is_null()) {
            Some(err) => Err(RpcErrorReply::from_json(err)),
            None => Ok(env.result.ok_or(MessageError::Shape("a reply with neither result nor error"))?),
        };
        Ok(Message::Reply { id, result })
    }
}

/// Encodes a request. `id` is a number for ours; `"echo"`-style ids are the server's.
pub fn encode_request(id: u64, method: &str, params: &impl serde::Serialize) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Req<'a, P> {
        id: u64,
        method: &'a str,
        params: &'a P,
    }
    serde_json::to_vec(&Req { id, method, params }).expect("request serialises")
}

/// Encodes a successful reply (used to answer the server's `echo`).
pub fn encode_reply(id: &Json, result: &RawValue) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Rep<'a> {
        id: &'a Json,
        result: &'a RawValue,
        error: Option<()>,
    }
    serde_json::to_vec(&Rep { id, result, error: None }).expect("reply serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_shape_ovsdb_server_sends() {
        match Message::parse(br#"{"id":3,"result":["OVN_Northbound"],"error":null}"#).unwrap() {
            Message::Reply { id, result: Ok(r) } => {
                assert_eq!(id, 3);
                assert_eq!(r.get(), r#"["OVN_Northbound"]"#);
            }
            m => panic!("{m:?}"),
        }
        match Message::parse(br#"{"id":4,"error":{"error":"unknown database","details":"get_schema request specifies unknown database x"}}"#).unwrap() {
            Message::Reply { result: Err(e), .. } => {
                assert_eq!(e.error, "unknown database");
                assert!(e.to_string().contains("specifies unknown database x"));
            }
            m => panic!("{m:?}"),
        }
        match Message::parse(br#"{"id":5,"result":null,"error":"unknown method"}"#).unwrap() {
            Message::Reply { result: Err(e), .. } => assert_eq!(e.error, "unknown method"),
            m => panic!("{m:?}"),
        }
        match Message::parse(br#"{"id":"echo","method":"echo","params":[]}"#).unwrap() {
            Message::Request { id, method, .. } => assert_eq!((id.as_str(), method.as_str()), (Some("echo"), "echo")),
            m => panic!("{m:?}"),
        }
        match Message::parse(br#"{"id":null,"method":"update3","params":["m","x",{}]}"#).unwrap() {
            Message::Notification { method, .. } => assert_eq!(method, "update3"),
            m => panic!("{m:?}"),
        }
    }

    #[test]
    fn rejects_malformed_messages() {
        assert!(Message::parse(br#"{"result":1,"error":null}"#).is_err());
        assert!(Message::parse(br#"{"id":1,"error":null}"#).is_err());
        assert!(Message::parse(br#"[1,2]"#).is_err());
        assert!(Message::parse(br#"{"id":1,"method":7}"#).is_err());
        assert!(Message::parse(b"{\"id\":1,\"result\":\"\xff\"}").is_err());
    }

    #[test]
    fn encodes_replies_with_null_error() {
        let params = RawValue::from_string("[]".into()).unwrap();
        let out = encode_reply(&Json::from("echo"), &params);
        assert_eq!(std::str::from_utf8(&out).unwrap(), r#"{"id":"echo","result":[],"error":null}"#);
        let req = encode_request(1, "list_dbs", &Vec::<u8>::new());
        assert_eq!(std::str::from_utf8(&req).unwrap(), r#"{"id":1,"method":"list_dbs","params":[]}"#);
    }
}
