//! `edge-infer component …`: a tenant's wasm components over `/v1/components`. `push` streams the `.wasm` file
//! as the component's next version and prints the interfaces the node found it imports and exports, so a
//! component built against the wrong WIT is caught at upload, not at the first call.

use super::model::{Stored, render_stored};
use super::{TenantConn, table, upload};
use clap::{Args, Subcommand};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use std::path::PathBuf;

/// `edge-infer component`: its connection options and verb.
#[derive(Args, Debug)]
pub struct ComponentCmd {
    #[command(flatten)]
    pub(super) conn: TenantConn,
    #[command(subcommand)]
    pub(super) verb: ComponentVerb,
}

/// The component verbs.
#[derive(Subcommand, Debug)]
pub enum ComponentVerb {
    /// Uploads a wasm component as the component's next version (the same bytes again change nothing).
    Push {
        /// The component's name within the tenant.
        name: String,
        /// The `.wasm` component file.
        file: PathBuf,
    },
    /// Lists the tenant's components with their current version.
    #[command(visible_alias = "ls")]
    List,
    /// Deletes a component with all its versions (refused while an endpoint uses it).
    #[command(visible_alias = "delete")]
    Rm {
        /// The component to delete.
        name: String,
    },
}

/// A component version as `PUT /v1/components/{name}` answers it.
#[derive(Deserialize, Debug)]
struct Pushed {
    name: String,
    version: u64,
    digest: String,
    size: u64,
    #[serde(default)]
    imports: Vec<String>,
    #[serde(default)]
    exports: Vec<String>,
}

impl ComponentCmd {
    /// Runs the verb and returns what to print on stdout.
    pub async fn run(self) -> anyhow::Result<String> {
        let api = self.conn.client()?;
        match self.verb {
            ComponentVerb::Push { name, file } => {
                let segments = ["v1", "components", name.as_str()];
                let (status, pushed) = upload::put_file(&api, &segments, &file, HeaderMap::new()).await?;
                Ok(render_pushed(status, &pushed))
            }
            ComponentVerb::List => {
                #[derive(Deserialize)]
                struct Components {
                    components: Vec<Stored>,
                }
                let (_, list): (_, Components) = api.send_json(api.request(Method::GET, &["v1", "components"])).await?;
                Ok(render_stored("components", list.components))
            }
            ComponentVerb::Rm { name } => {
                api.send_empty(api.request(Method::DELETE, &["v1", "components", &name])).await?;
                Ok(format!("deleted component {name}\n"))
            }
        }
    }
}

/// What a push did: the version, its digest and the component's imports and exports.
fn render_pushed(status: StatusCode, pushed: &Pushed) -> String {
    let news = if status == StatusCode::CREATED { "new" } else { "unchanged: same bytes as the current version" };
    let mut out = format!("component {} version {} ({news})\n", pushed.name, pushed.version);
    out += &format!("digest:  {}\n", pushed.digest);
    out += &format!("size:    {} ({} bytes)\n", table::bytes(pushed.size), pushed.size);
    for (title, names) in [("imports", &pushed.imports), ("exports", &pushed.exports)] {
        if names.is_empty() {
            out += &format!("{title}: none\n");
        } else {
            out += &format!("{title}:\n");
            for name in names {
                out += &format!("  {name}\n");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushes_print_version_digest_and_interfaces() {
        let pushed: Pushed = serde_json::from_value(serde_json::json!({
            "name": "classify", "version": 1, "digest": "f".repeat(64), "size": 100,
            "imports": ["wasi:nn/graph@0.2.0-rc-2024-10-28", "wasi:nn/tensor@0.2.0-rc-2024-10-28"],
            "exports": ["wasi:http/incoming-handler@0.2.12"]
        }))
        .unwrap();
        let expected = format!(
            "component classify version 1 (new)\ndigest:  {}\nsize:    100 B (100 bytes)\nimports:\n  \
             wasi:nn/graph@0.2.0-rc-2024-10-28\n  wasi:nn/tensor@0.2.0-rc-2024-10-28\nexports:\n  \
             wasi:http/incoming-handler@0.2.12\n",
            "f".repeat(64)
        );
        assert_eq!(render_pushed(StatusCode::CREATED, &pushed), expected);
        let bare: Pushed =
            serde_json::from_str(r#"{"name":"c","version":3,"digest":"d","size":1,"imports":[],"exports":[]}"#)
                .unwrap();
        let out = render_pushed(StatusCode::OK, &bare);
        assert!(out.contains("version 3 (unchanged") && out.contains("imports: none\n"), "{out}");
    }
}
