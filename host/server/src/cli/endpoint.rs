//! `edge-infer endpoint …`: a tenant's endpoints over `/v1/endpoints`. An endpoint binds a component (at its
//! current or a pinned version) to models under the aliases the guest asks for and to config values; every
//! `set` is a new version, and `rollback` makes the one before it current again.

use super::client::Api;
use super::{TenantConn, split_pair, table};
use clap::{Args, Subcommand};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// `edge-infer endpoint`: its connection options and verb.
#[derive(Args, Debug)]
pub struct EndpointCmd {
    #[command(flatten)]
    pub(super) conn: TenantConn,
    #[command(subcommand)]
    pub(super) verb: EndpointVerb,
}

/// The endpoint verbs.
#[derive(Subcommand, Debug)]
pub enum EndpointVerb {
    /// Publishes a new version of an endpoint (creating it if need be) and makes it current.
    Set {
        /// The endpoint's name, as in `/run/TENANT/NAME`.
        name: String,
        /// The component that serves it, at its current version or a pinned one (`classify@3`).
        #[arg(long, value_name = "C[@V]", value_parser = parse_ref)]
        component: Ref,
        /// Binds a model under the alias the guest loads it by (`--model resnet=resnet50@2`); repeatable.
        #[arg(long = "model", value_name = "ALIAS=MODEL[@V]", value_parser = parse_binding)]
        models: Vec<(String, Ref)>,
        /// A config value the guest reads through wasi:config (`--config threshold=0.5`); repeatable.
        #[arg(long = "config", value_name = "K=V", value_parser = parse_config)]
        config: Vec<(String, String)>,
        /// Lets anyone call the endpoint without an API key.
        #[arg(long)]
        public: bool,
        /// This endpoint's deadline in milliseconds, over the tenant's and the node's.
        #[arg(long, value_name = "MS")]
        deadline_ms: Option<u64>,
        /// Requests one guest instance may answer, one after another (default 1: a fresh instance each).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        max_instance_reuse: Option<u32>,
    },
    /// Lists the tenant's endpoints with what their current version binds.
    #[command(visible_alias = "ls")]
    List,
    /// Makes the version before the current one current again.
    Rollback {
        /// The endpoint to roll back.
        name: String,
    },
    /// Deletes an endpoint with all its versions.
    #[command(visible_alias = "delete")]
    Rm {
        /// The endpoint to delete.
        name: String,
    },
}

/// A component or model named at its current version, or pinned to one: `NAME[@VERSION]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ref {
    /// The component's or model's name.
    pub name: String,
    /// The pinned version; `None` follows the current one.
    pub version: Option<u64>,
}

impl fmt::Display for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.version {
            Some(v) => write!(f, "{}@{v}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// Parses `NAME[@VERSION]` with a non-empty name and a positive integer version.
pub fn parse_ref(s: &str) -> Result<Ref, String> {
    let (name, version) = match s.rsplit_once('@') {
        Some((name, v)) => {
            let v = v.parse::<u64>().ok().filter(|v| *v > 0);
            (name, Some(v.ok_or_else(|| format!("version in {s:?} is not a positive integer (NAME@VERSION)"))?))
        }
        None => (s, None),
    };
    if name.trim().is_empty() {
        return Err(format!("no name in {s:?}; expected NAME or NAME@VERSION"));
    }
    Ok(Ref { name: name.trim().to_owned(), version })
}

/// Parses `ALIAS=MODEL[@VERSION]`.
pub fn parse_binding(s: &str) -> Result<(String, Ref), String> {
    let (alias, model) = split_pair(s, '=', "ALIAS=MODEL[@VERSION] (e.g. net=resnet@2)")?;
    Ok((alias.to_owned(), parse_ref(model)?))
}

/// Parses `KEY=VALUE`; the value may be empty and may itself hold `=`.
pub fn parse_config(s: &str) -> Result<(String, String), String> {
    let (key, value) = split_pair(s, '=', "KEY=VALUE")?;
    Ok((key.to_owned(), value.to_owned()))
}

/// The JSON of `PUT /v1/endpoints/{name}`, and of one version in the answers.
#[derive(Serialize, Deserialize, Debug, PartialEq, Eq)]
struct Spec {
    component: String,
    #[serde(default)]
    models: BTreeMap<String, String>,
    #[serde(default)]
    config: BTreeMap<String, String>,
    #[serde(default)]
    public: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    deadline_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_instance_reuse: Option<u32>,
}

/// The request body for `set`; an alias or config key given twice is an error, not a silent overwrite.
fn spec(component: &Ref, models: &[(String, Ref)], config: &[(String, String)], public: bool) -> anyhow::Result<Spec> {
    let mut spec = Spec {
        component: component.to_string(),
        models: BTreeMap::new(),
        config: BTreeMap::new(),
        public,
        deadline_ms: None,
        max_instance_reuse: None,
    };
    for (alias, model) in models {
        if spec.models.insert(alias.clone(), model.to_string()).is_some() {
            anyhow::bail!("--model {alias}=… is given twice");
        }
    }
    for (key, value) in config {
        if spec.config.insert(key.clone(), value.clone()).is_some() {
            anyhow::bail!("--config {key}=… is given twice");
        }
    }
    Ok(spec)
}

/// An endpoint version as `PUT` answers it.
#[derive(Deserialize, Debug)]
struct Published {
    name: String,
    version: u64,
    #[serde(flatten)]
    spec: Spec,
}

/// One endpoint in `GET /v1/endpoints`.
#[derive(Deserialize, Debug)]
struct Listed {
    name: String,
    #[serde(default)]
    current: Option<u64>,
    #[serde(default)]
    versions: Vec<ListedVersion>,
}

/// One version of a listed endpoint.
#[derive(Deserialize, Debug)]
struct ListedVersion {
    version: u64,
    #[serde(flatten)]
    spec: Spec,
}

impl EndpointCmd {
    /// Runs the verb and returns what to print on stdout.
    pub async fn run(self) -> anyhow::Result<String> {
        let api = self.conn.client()?;
        match self.verb {
            EndpointVerb::Set { name, component, models, config, public, deadline_ms, max_instance_reuse } => {
                let body = Spec { deadline_ms, max_instance_reuse, ..spec(&component, &models, &config, public)? };
                let request = api.request(Method::PUT, &["v1", "endpoints", &name]).json(&body);
                let (_, published): (_, Published) = api.send_json(request).await?;
                Ok(render_published(&published))
            }
            EndpointVerb::List => list(&api).await,
            EndpointVerb::Rollback { name } => {
                #[derive(Deserialize)]
                struct RolledBack {
                    name: String,
                    current: u64,
                }
                let request = api.request(Method::POST, &["v1", "endpoints", &name, "rollback"]);
                let (_, done): (_, RolledBack) = api.send_json(request).await?;
                Ok(format!("endpoint {} rolled back: version {} is current\n", done.name, done.current))
            }
            EndpointVerb::Rm { name } => {
                api.send_empty(api.request(Method::DELETE, &["v1", "endpoints", &name])).await?;
                Ok(format!("deleted endpoint {name}\n"))
            }
        }
    }
}

/// `GET /v1/endpoints` as a table.
async fn list(api: &Api) -> anyhow::Result<String> {
    #[derive(Deserialize)]
    struct Endpoints {
        endpoints: Vec<Listed>,
    }
    let (_, list): (_, Endpoints) = api.send_json(api.request(Method::GET, &["v1", "endpoints"])).await?;
    Ok(render_list(list.endpoints))
}

/// `models` as `alias=model,…`.
fn bindings(models: &BTreeMap<String, String>) -> String {
    table::list(models.iter().map(|(alias, model)| format!("{alias}={model}")))
}

/// What `set` published.
fn render_published(p: &Published) -> String {
    let access = if p.spec.public { "public" } else { "needs an API key" };
    let config = table::list(p.spec.config.iter().map(|(k, v)| format!("{k}={v}")));
    let deadline = p.spec.deadline_ms.map_or_else(|| "the tenant's or the node's".to_owned(), |ms| format!("{ms} ms"));
    let instances = match p.spec.max_instance_reuse.unwrap_or(1) {
        1 => "a fresh one for every request".to_owned(),
        n => format!("each answers up to {n} requests"),
    };
    format!(
        "endpoint {} version {} is current\ncomponent: {}\nmodels:    {}\nconfig:    {config}\naccess:    {access}\n\
         deadline:  {deadline}\ninstances: {instances}\n",
        p.name,
        p.version,
        p.spec.component,
        bindings(&p.spec.models)
    )
}

/// The endpoints as a table, showing what each one's current version binds.
fn render_list(endpoints: Vec<Listed>) -> String {
    let rows = endpoints
        .into_iter()
        .map(|e| {
            let current = e.current.and_then(|c| e.versions.iter().find(|v| v.version == c));
            vec![
                e.name.clone(),
                e.current.map_or_else(|| "-".to_owned(), |c| c.to_string()),
                e.versions.len().to_string(),
                current.map_or_else(|| "-".to_owned(), |v| v.spec.component.clone()),
                current.map_or_else(|| "-".to_owned(), |v| bindings(&v.spec.models)),
                current.map_or_else(|| "-".to_owned(), |v| if v.spec.public { "yes" } else { "no" }.to_owned()),
            ]
        })
        .collect();
    table::render("endpoints", &["name", "current", "versions", "component", "models", "public"], rows)
}

#[cfg(test)]
mod tests;
