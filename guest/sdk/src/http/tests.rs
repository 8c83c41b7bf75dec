//! The request and response helpers, checked natively (`cargo test --target` your host triple).

use super::*;

fn request(path: &str) -> Request {
    Request {
        method: "GET".into(),
        path: path.into(),
        headers: vec![
            ("Content-Type".into(), "Application/JSON; charset=utf-8".into()),
            ("x-a".into(), "1".into()),
            ("x-a".into(), "2".into()),
        ],
        body: Vec::new(),
    }
}

#[test]
fn headers_ignore_case_and_take_the_first() {
    let req = request("/");
    assert_eq!(req.header("X-A"), Some("1"));
    assert_eq!(req.header("missing"), None);
    assert_eq!(req.content_type().as_deref(), Some("application/json"));
}

#[test]
fn query_decodes_and_finds_the_first() {
    let req = request("/a/b?model=my%20model&top_k=3&flag&plus=a+b&top_k=9&bad=%zz%4");
    assert_eq!(req.path_without_query(), "/a/b");
    assert_eq!(req.query("model").as_deref(), Some("my model"));
    assert_eq!(req.query("top_k").as_deref(), Some("3"));
    assert_eq!(req.query("flag").as_deref(), Some(""));
    assert_eq!(req.query("plus").as_deref(), Some("a b"));
    assert_eq!(req.query("bad").as_deref(), Some("%zz%4"));
    assert_eq!(req.query("nope"), None);
    assert_eq!(request("/plain").query("model"), None);
    assert_eq!(request("/plain").path_without_query(), "/plain");
}

#[test]
fn error_has_the_shared_shape() {
    let resp = Response::error(400, "bad_request", "no inputs").with_header("x-b", "c");
    assert_eq!(resp.status, 400);
    assert_eq!(resp.header("Content-Type"), Some("application/json"));
    assert_eq!(resp.header("x-b"), Some("c"));
    let body: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(body, serde_json::json!({"error": {"code": "bad_request", "message": "no inputs"}}));
}
