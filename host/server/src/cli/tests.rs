//! Argument parsing of the whole command tree, through the binary's real `Cli` (so `serve` is checked to be
//! untouched next to the client verbs). No network: the verbs' HTTP is exercised by end-to-end tests.

use super::call::CallArgs;
use super::component::ComponentVerb;
use super::endpoint::{EndpointVerb, Ref};
use super::model::{InputShape, ModelVerb};
use super::tenant::TenantVerb;
use super::{ClientCommand, DEFAULT_SERVER, ENV_SERVER};
use crate::{Cli, Command};
use clap::Parser;
use clap::error::ErrorKind;

fn parse(args: &[&str]) -> Result<ClientCommand, clap::Error> {
    let cli = Cli::try_parse_from(std::iter::once("edge-infer").chain(args.iter().copied()))?;
    match cli.command {
        Command::Client(command) => Ok(command),
        Command::Serve(_) | Command::Config { .. } | Command::Backends { .. } | Command::LoadCheck(_) => {
            panic!("{args:?} parsed as a node command")
        }
    }
}

fn call(args: &[&str]) -> CallArgs {
    match parse(args).unwrap() {
        ClientCommand::Call(call) => call,
        _ => panic!("not a call"),
    }
}

#[test]
fn serve_still_parses() {
    let cli = Cli::try_parse_from(["edge-infer", "serve", "--listen", "127.0.0.1:0"]).unwrap();
    assert!(matches!(cli.command, Command::Serve(args) if args.listen.is_some()));
}

#[test]
fn the_test_load_child_parses_what_serve_passes_it_and_is_not_in_the_help() {
    let args =
        ["--memory-bytes", "1", "--threads", "0", "--model-bytes", "5", "--backends", "{}", "--model-config", "{}"];
    let cli = Cli::try_parse_from(["edge-infer", "load-check"].into_iter().chain(args)).unwrap();
    assert!(matches!(cli.command, Command::LoadCheck(_)));
    let help = Cli::try_parse_from(["edge-infer", "--help"]).err().expect("--help is an early exit").to_string();
    assert!(help.contains("serve") && !help.contains("load-check"), "{help}");
}

#[test]
fn backends_takes_a_config_file() {
    let cli = Cli::try_parse_from(["edge-infer", "backends", "--config", "node.toml"]).unwrap();
    assert!(matches!(cli.command, Command::Backends { config: Some(ref p) } if p.to_str() == Some("node.toml")));
}

#[test]
fn tenant_verbs_take_the_admin_token() {
    let Ok(ClientCommand::Tenant(cmd)) = parse(&["tenant", "create", "acme", "--admin-token", "secret"]) else {
        panic!("not a tenant create");
    };
    assert_eq!(cmd.conn.admin_token.as_deref(), Some("secret"));
    assert!(matches!(cmd.verb, TenantVerb::Create { ref name } if name == "acme"));
    // Options may come before the verb too.
    let Ok(ClientCommand::Tenant(cmd)) = parse(&["tenant", "--admin-token", "t", "rotate-key", "acme"]) else {
        panic!("not a tenant rotate-key");
    };
    assert!(matches!(cmd.verb, TenantVerb::RotateKey { ref name } if name == "acme"));
    assert!(matches!(parse(&["tenant", "ls"]), Ok(ClientCommand::Tenant(c)) if matches!(c.verb, TenantVerb::List)));
    assert!(parse(&["tenant", "delete"]).is_err());
}

#[test]
fn model_push_takes_backend_and_inputs() {
    let args = [
        "model",
        "push",
        "resnet",
        "resnet.onnx",
        "--backend",
        "tract",
        "--input",
        "x=1,3,224,224",
        "--input",
        "mask=1,224",
        "--key",
        "ei_k",
        "--server",
        "http://node:9000",
    ];
    let Ok(ClientCommand::Model(cmd)) = parse(&args) else { panic!("not a model push") };
    assert_eq!(cmd.conn.key.as_deref(), Some("ei_k"));
    assert_eq!(cmd.conn.server.server.as_str(), "http://node:9000/");
    let ModelVerb::Push { name, file, backend, inputs } = cmd.verb else { panic!("not a push") };
    assert_eq!((name.as_str(), file.to_str(), backend.as_deref()), ("resnet", Some("resnet.onnx"), Some("tract")));
    assert_eq!(inputs[0], InputShape { name: "x".into(), dims: vec![1, 3, 224, 224] });
    assert_eq!(inputs[1], InputShape { name: "mask".into(), dims: vec![1, 224] });
    let err = parse(&["model", "push", "m", "f.onnx", "--input", "x=1,a"]).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::ValueValidation);
    assert_eq!(parse(&["model", "push", "m"]).err().unwrap().kind(), ErrorKind::MissingRequiredArgument);
}

#[test]
fn server_defaults_and_must_be_http() {
    if std::env::var_os(ENV_SERVER).is_none() {
        let Ok(ClientCommand::Model(cmd)) = parse(&["model", "list"]) else { panic!("not a model list") };
        assert_eq!(cmd.conn.server.server.as_str().trim_end_matches('/'), DEFAULT_SERVER);
    }
    for bad in ["node:8080", "https://node", "ftp://node", "http://node/?q=1", "not a url"] {
        let err = parse(&["model", "list", "--server", bad]).err().unwrap_or_else(|| panic!("{bad} accepted"));
        assert_eq!(err.kind(), ErrorKind::ValueValidation, "{bad}");
    }
}

#[test]
fn component_verbs_parse() {
    let Ok(ClientCommand::Component(cmd)) = parse(&["component", "push", "classify", "c.wasm"]) else {
        panic!("not a component push");
    };
    assert!(matches!(cmd.verb, ComponentVerb::Push { ref name, .. } if name == "classify"));
    let Ok(ClientCommand::Component(cmd)) = parse(&["component", "rm", "classify"]) else { panic!("not rm") };
    assert!(matches!(cmd.verb, ComponentVerb::Rm { ref name } if name == "classify"));
}

#[test]
fn endpoint_set_takes_component_models_config_public_deadline_and_reuse() {
    let args = [
        "endpoint",
        "set",
        "classify",
        "--component",
        "cls@3",
        "--model",
        "net=resnet@2",
        "--model",
        "aux=tiny",
        "--config",
        "threshold=0.5",
        "--public",
        "--deadline-ms",
        "2000",
        "--max-instance-reuse",
        "100",
    ];
    let Ok(ClientCommand::Endpoint(cmd)) = parse(&args) else { panic!("not an endpoint set") };
    let EndpointVerb::Set { name, component, models, config, public, deadline_ms, max_instance_reuse } = cmd.verb
    else {
        panic!("not a set")
    };
    assert_eq!((deadline_ms, max_instance_reuse), (Some(2000), Some(100)));
    assert_eq!(name, "classify");
    assert_eq!(component, Ref { name: "cls".into(), version: Some(3) });
    assert_eq!(models[0], ("net".into(), Ref { name: "resnet".into(), version: Some(2) }));
    assert_eq!(models[1].1.to_string(), "tiny");
    assert_eq!(config, vec![("threshold".to_owned(), "0.5".to_owned())]);
    assert!(public);
    let missing = parse(&["endpoint", "set", "e"]).err().unwrap();
    assert_eq!(missing.kind(), ErrorKind::MissingRequiredArgument);
    let bad = parse(&["endpoint", "set", "e", "--component", "c", "--model", "a=m@x"]).err().unwrap();
    assert_eq!(bad.kind(), ErrorKind::ValueValidation);
    let zero = parse(&["endpoint", "set", "e", "--component", "c", "--max-instance-reuse", "0"]).err().unwrap();
    assert_eq!(zero.kind(), ErrorKind::ValueValidation);
    let Ok(ClientCommand::Endpoint(cmd)) = parse(&["endpoint", "rollback", "classify"]) else { panic!("rollback") };
    assert!(matches!(cmd.verb, EndpointVerb::Rollback { ref name } if name == "classify"));
}

#[test]
fn call_takes_a_path_body_headers_and_method() {
    let c = call(&["call", "acme", "classify", "v2/predict", "-X", "put", "-H", "accept: text/plain", "--json", "{}"]);
    assert_eq!((c.tenant.as_str(), c.endpoint.as_str(), c.path.as_deref()), ("acme", "classify", Some("v2/predict")));
    assert_eq!(c.method, Some(reqwest::Method::PUT));
    assert_eq!(c.headers[0].0, "accept");
    assert_eq!(c.json.as_deref(), Some("{}"));
    let c = call(&["call", "acme", "classify", "--data", "cat.jpg", "--key", "ei_k"]);
    assert_eq!(c.data.as_deref().and_then(|p| p.to_str()), Some("cat.jpg"));
    assert_eq!((c.path, c.method, c.conn.key.as_deref()), (None, None, Some("ei_k")));
    let both = parse(&["call", "t", "e", "--data", "f", "--json", "{}"]).err().unwrap();
    assert_eq!(both.kind(), ErrorKind::ArgumentConflict);
    assert_eq!(parse(&["call", "t"]).err().unwrap().kind(), ErrorKind::MissingRequiredArgument);
    assert_eq!(parse(&["call", "t", "e", "-H", "nocolon"]).err().unwrap().kind(), ErrorKind::ValueValidation);
}

#[test]
fn the_command_tree_is_consistent() {
    use clap::CommandFactory;
    Cli::command().debug_assert();
}
