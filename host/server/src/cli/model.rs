//! `edge-infer model …`: a tenant's ONNX models over `/v1/models`. `push` streams the file as the model's next
//! version, optionally with an `x-model-config` header that picks the backend and pins input shapes the ONNX
//! file leaves open.

use super::client::Api;
use super::{TenantConn, split_pair, table, upload};
use anyhow::Context as _;
use clap::{Args, Subcommand};
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The header that carries a model's load options as JSON.
const MODEL_CONFIG_HEADER: &str = "x-model-config";

/// `edge-infer model`: its connection options and verb.
#[derive(Args, Debug)]
pub struct ModelCmd {
    #[command(flatten)]
    pub(super) conn: TenantConn,
    #[command(subcommand)]
    pub(super) verb: ModelVerb,
}

/// The model verbs.
#[derive(Subcommand, Debug)]
pub enum ModelVerb {
    /// Uploads an ONNX file as the model's next version (the same bytes again change nothing).
    Push {
        /// The model's name within the tenant.
        name: String,
        /// The ONNX file.
        file: PathBuf,
        /// Inference backend to load it with (the node's default when not given).
        #[arg(long, value_name = "BACKEND")]
        backend: Option<String>,
        /// Pins an input's shape, e.g. `--input x=1,3,224,224`; repeat for more inputs.
        #[arg(long = "input", value_name = "NAME=D1,D2,...", value_parser = parse_input)]
        inputs: Vec<InputShape>,
    },
    /// Lists the tenant's models with their current version.
    #[command(visible_alias = "ls")]
    List,
    /// Deletes a model with all its versions (refused while an endpoint uses it).
    #[command(visible_alias = "delete")]
    Rm {
        /// The model to delete.
        name: String,
    },
}

/// A pinned input shape from `--input NAME=D1,D2,...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputShape {
    /// The input's name in the ONNX graph.
    pub name: String,
    /// Its dimensions.
    pub dims: Vec<u64>,
}

/// Parses `NAME=D1,D2,...` with at least one non-negative integer dimension.
pub fn parse_input(s: &str) -> Result<InputShape, String> {
    let (name, dims) = split_pair(s, '=', "NAME=D1,D2,... (e.g. x=1,3,224,224)")?;
    if dims.trim().is_empty() {
        return Err(format!("no dimensions in {s:?}; expected NAME=D1,D2,... (e.g. x=1,3,224,224)"));
    }
    let dims = dims
        .split(',')
        .map(|d| d.trim().parse::<u64>().map_err(|_| format!("dimension {d:?} in {s:?} is not a non-negative integer")))
        .collect::<Result<_, _>>()?;
    Ok(InputShape { name: name.to_owned(), dims })
}

/// The `x-model-config` header's JSON.
#[derive(Serialize, Debug)]
struct ModelConfig<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    backend: Option<&'a str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    inputs: BTreeMap<&'a str, &'a [u64]>,
}

/// The `x-model-config` header for `backend` and `inputs`, or `None` when neither is given.
fn model_config(backend: Option<&str>, inputs: &[InputShape]) -> anyhow::Result<Option<String>> {
    if backend.is_none() && inputs.is_empty() {
        return Ok(None);
    }
    let mut config = ModelConfig { backend, inputs: BTreeMap::new() };
    for input in inputs {
        if config.inputs.insert(&input.name, &input.dims).is_some() {
            anyhow::bail!("--input {} is given twice", input.name);
        }
    }
    Ok(Some(serde_json::to_string(&config)?))
}

/// A model version as `PUT /v1/models/{name}` answers it.
#[derive(Deserialize, Debug)]
struct Pushed {
    name: String,
    version: u64,
    digest: String,
    size: u64,
    #[serde(default)]
    backend: Option<String>,
    #[serde(default)]
    inputs: Vec<Tensor>,
    #[serde(default)]
    outputs: Vec<Tensor>,
    #[serde(default)]
    metadata: BTreeMap<String, serde_json::Value>,
}

/// One input or output of a model.
#[derive(Deserialize, Debug)]
struct Tensor {
    name: String,
    #[serde(rename = "type")]
    ty: String,
    #[serde(default)]
    dims: Vec<Option<i64>>,
}

/// `GET /v1/models` and `GET /v1/components`: named things with numbered versions.
#[derive(Deserialize, Debug)]
pub(super) struct Stored {
    pub name: String,
    #[serde(default)]
    pub current: Option<u64>,
    #[serde(default)]
    pub versions: Vec<StoredVersion>,
}

/// One stored version of a model or component.
#[derive(Deserialize, Debug)]
pub(super) struct StoredVersion {
    pub version: u64,
    #[serde(default)]
    pub digest: String,
    #[serde(default)]
    pub size: u64,
}

impl ModelCmd {
    /// Runs the verb and returns what to print on stdout.
    pub async fn run(self) -> anyhow::Result<String> {
        let api = self.conn.client()?;
        match self.verb {
            ModelVerb::Push { name, file, backend, inputs } => {
                let mut headers = HeaderMap::new();
                if let Some(config) = model_config(backend.as_deref(), &inputs)? {
                    let value = HeaderValue::from_str(&config).context("--backend or --input cannot go in a header")?;
                    headers.insert(MODEL_CONFIG_HEADER, value);
                }
                let (status, pushed) = upload::put_file(&api, &["v1", "models", &name], &file, headers).await?;
                Ok(render_pushed(status, &pushed))
            }
            ModelVerb::List => list(&api).await,
            ModelVerb::Rm { name } => {
                api.send_empty(api.request(Method::DELETE, &["v1", "models", &name])).await?;
                Ok(format!("deleted model {name}\n"))
            }
        }
    }
}

/// `GET /v1/models` as a table.
async fn list(api: &Api) -> anyhow::Result<String> {
    #[derive(Deserialize)]
    struct Models {
        models: Vec<Stored>,
    }
    let (_, list): (_, Models) = api.send_json(api.request(Method::GET, &["v1", "models"])).await?;
    Ok(render_stored("models", list.models))
}

/// Models or components as a table: name, current version, how many versions, the current one's digest and size.
pub(super) fn render_stored(what: &str, items: Vec<Stored>) -> String {
    let rows = items
        .into_iter()
        .map(|item| {
            let current = item.current.and_then(|c| item.versions.iter().find(|v| v.version == c));
            vec![
                item.name,
                item.current.map_or_else(|| "-".to_owned(), |c| c.to_string()),
                item.versions.len().to_string(),
                current.map_or("-", |v| table::short_digest(&v.digest)).to_owned(),
                current.map_or_else(|| "-".to_owned(), |v| table::bytes(v.size)),
            ]
        })
        .collect();
    table::render(what, &["name", "current", "versions", "digest", "size"], rows)
}

/// What a push did: the version, its digest and the model's inputs and outputs.
fn render_pushed(status: StatusCode, pushed: &Pushed) -> String {
    let news = if status == StatusCode::CREATED { "new" } else { "unchanged: same bytes as the current version" };
    let mut out = format!("model {} version {} ({news})\n", pushed.name, pushed.version);
    out += &format!("digest:   {}\n", pushed.digest);
    out += &format!("size:     {} ({} bytes)\n", table::bytes(pushed.size), pushed.size);
    if let Some(backend) = &pushed.backend {
        out += &format!("backend:  {backend}\n");
    }
    if !pushed.metadata.is_empty() {
        let pairs = pushed.metadata.iter().map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        });
        out += &format!("metadata: {}\n", pairs.collect::<Vec<_>>().join(", "));
    }
    let rows: Vec<Vec<String>> = pushed
        .inputs
        .iter()
        .map(|t| ("input", t))
        .chain(pushed.outputs.iter().map(|t| ("output", t)))
        .map(|(kind, t)| vec![kind.to_owned(), t.name.clone(), t.ty.clone(), table::dims(&t.dims)])
        .collect();
    out.push('\n');
    out += &table::render("inputs or outputs", &["kind", "name", "type", "shape"], rows);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_shapes_parse() {
        let shape = parse_input("x=1,3,224,224").unwrap();
        assert_eq!(shape, InputShape { name: "x".into(), dims: vec![1, 3, 224, 224] });
        assert_eq!(parse_input("input.1 = 1, 10").unwrap().dims, vec![1, 10]);
        for bad in ["x", "=1,2", "x=", "x=1,,2", "x=1,-3", "x=a", "x=1.5"] {
            assert!(parse_input(bad).is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn model_config_header_says_only_what_was_given() {
        assert_eq!(model_config(None, &[]).unwrap(), None);
        assert_eq!(model_config(Some("tract"), &[]).unwrap().unwrap(), r#"{"backend":"tract"}"#);
        let inputs = [parse_input("x=1,3,224,224").unwrap(), parse_input("a=2").unwrap()];
        let header = model_config(Some("tract"), &inputs).unwrap().unwrap();
        assert_eq!(header, r#"{"backend":"tract","inputs":{"a":[2],"x":[1,3,224,224]}}"#);
        let twice = [parse_input("x=1").unwrap(), parse_input("x=2").unwrap()];
        assert!(model_config(None, &twice).is_err());
    }

    #[test]
    fn pushes_print_version_digest_and_tensors() {
        let digest = "a".repeat(64);
        let pushed: Pushed = serde_json::from_value(serde_json::json!({
            "name": "resnet", "version": 2, "digest": digest, "size": 2048, "backend": "tract",
            "inputs": [{"name": "x", "type": "f32", "dims": [null, 3, 224, 224]}],
            "outputs": [{"name": "y", "type": "f32", "dims": [null, 1000]}],
            "metadata": {"producer": "pytorch"}
        }))
        .unwrap();
        let out = render_pushed(StatusCode::CREATED, &pushed);
        let expected = format!(
            "model resnet version 2 (new)\ndigest:   {digest}\nsize:     2.0 KiB (2048 bytes)\nbackend:  tract\n\
             metadata: producer=pytorch\n\nKIND     NAME   TYPE   SHAPE\ninput    x      f32    ?x3x224x224\n\
             output   y      f32    ?x1000\n"
        );
        assert_eq!(out, expected);
        assert!(render_pushed(StatusCode::OK, &pushed).contains("(unchanged"));
    }

    #[test]
    fn model_lists_show_the_current_version() {
        let list: Vec<Stored> = serde_json::from_value(serde_json::json!([
            {"name": "resnet", "current": 2, "versions": [
                {"version": 1, "digest": "1".repeat(64), "size": 10},
                {"version": 2, "digest": "2".repeat(64), "size": 3 << 20}]},
            {"name": "empty", "current": null, "versions": []}
        ]))
        .unwrap();
        let expected = "\
NAME     CURRENT   VERSIONS   DIGEST         SIZE
resnet   2         2          222222222222   3.0 MiB
empty    -         0          -              -
";
        assert_eq!(render_stored("models", list), expected);
    }
}
