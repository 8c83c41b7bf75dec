//! Tests of `--component`, `--model` and `--config` parsing, the `set` body and the endpoint table.

use super::*;

#[test]
fn refs_parse_with_and_without_a_version() {
    assert_eq!(parse_ref("classify").unwrap(), Ref { name: "classify".into(), version: None });
    assert_eq!(parse_ref("classify@3").unwrap(), Ref { name: "classify".into(), version: Some(3) });
    assert_eq!(parse_ref("classify@3").unwrap().to_string(), "classify@3");
    for bad in ["", "@2", "c@", "c@0", "c@x", "c@-1", "c@1.5"] {
        assert!(parse_ref(bad).is_err(), "{bad:?} should not parse");
    }
}

#[test]
fn model_bindings_parse() {
    let (alias, model) = parse_binding("a=m@2").unwrap();
    assert_eq!(alias, "a");
    assert_eq!(model, Ref { name: "m".into(), version: Some(2) });
    assert_eq!(parse_binding("net=resnet").unwrap().1.to_string(), "resnet");
    for bad in ["a", "=m", "a=", "a=m@", "a=m@v2"] {
        assert!(parse_binding(bad).is_err(), "{bad:?} should not parse");
    }
}

#[test]
fn config_values_keep_their_equals_signs() {
    assert_eq!(parse_config("k=v=w").unwrap(), ("k".into(), "v=w".into()));
    assert_eq!(parse_config("empty=").unwrap(), ("empty".into(), String::new()));
    assert!(parse_config("novalue").is_err());
    assert!(parse_config("=v").is_err());
}

#[test]
fn set_sends_the_contract_body() {
    let models = [parse_binding("net=resnet@2").unwrap(), parse_binding("aux=tiny").unwrap()];
    let config = [parse_config("threshold=0.5").unwrap()];
    let body = spec(&parse_ref("classify").unwrap(), &models, &config, true).unwrap();
    assert_eq!(
        serde_json::to_value(&body).unwrap(),
        serde_json::json!({
            "component": "classify",
            "models": {"aux": "tiny", "net": "resnet@2"},
            "config": {"threshold": "0.5"},
            "public": true
        })
    );
    let twice = [parse_binding("a=m").unwrap(), parse_binding("a=n").unwrap()];
    assert!(spec(&parse_ref("c").unwrap(), &twice, &[], false).is_err());
    let twice = [parse_config("k=1").unwrap(), parse_config("k=2").unwrap()];
    assert!(spec(&parse_ref("c").unwrap(), &[], &twice, false).is_err());
}

#[test]
fn published_versions_print_what_they_bind() {
    let published: Published = serde_json::from_value(serde_json::json!({
        "name": "classify", "version": 4, "component": "classify@3",
        "models": {"net": "resnet"}, "config": {}, "public": false
    }))
    .unwrap();
    let expected = "endpoint classify version 4 is current\ncomponent: classify@3\nmodels:    net=resnet\n\
                    config:    -\naccess:    needs an API key\ndeadline:  the tenant's or the node's\n\
                    instances: a fresh one for every request\n";
    assert_eq!(render_published(&published), expected);
    let published: Published = serde_json::from_value(serde_json::json!({
        "name": "classify", "version": 5, "component": "classify@3", "models": {}, "config": {}, "public": true,
        "deadline_ms": 2000, "max_instance_reuse": 100
    }))
    .unwrap();
    let shown = render_published(&published);
    assert!(shown.ends_with("deadline:  2000 ms\ninstances: each answers up to 100 requests\n"), "{shown}");
}

#[test]
fn endpoints_render_their_current_version() {
    let list: Vec<Listed> = serde_json::from_value(serde_json::json!([
        {"name": "classify", "current": 1, "versions": [
            {"version": 1, "component": "c", "models": {"net": "m@2"}, "config": {}, "public": true},
            {"version": 2, "component": "c@2", "models": {}, "config": {}, "public": false}]}
    ]))
    .unwrap();
    let expected = "\
NAME       CURRENT   VERSIONS   COMPONENT   MODELS    PUBLIC
classify   1         2          c           net=m@2   yes
";
    assert_eq!(render_list(list), expected);
}
