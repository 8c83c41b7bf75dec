//! `edge-infer tenant …`: the operator's verbs over `/admin/tenants`. They need the admin token the node was
//! started with; a tenant's API key is printed once, at creation or rotation, and never again.

use super::AdminConn;
use super::client::Api;
use super::table;
use clap::{Args, Subcommand};
use reqwest::Method;
use serde::Deserialize;

/// `edge-infer tenant`: its connection options and verb.
#[derive(Args, Debug)]
pub struct TenantCmd {
    #[command(flatten)]
    pub(super) conn: AdminConn,
    #[command(subcommand)]
    pub(super) verb: TenantVerb,
}

/// The tenant verbs.
#[derive(Subcommand, Debug)]
pub enum TenantVerb {
    /// Creates a tenant and prints its API key (shown only this once).
    Create {
        /// The tenant's name, used in URLs (`/run/NAME/…`).
        name: String,
    },
    /// Lists the tenants with how many models, components and endpoints each has.
    #[command(visible_alias = "ls")]
    List,
    /// Deletes a tenant with all its models, components and endpoints.
    #[command(visible_alias = "rm")]
    Delete {
        /// The tenant to delete.
        name: String,
    },
    /// Issues a new API key for a tenant and prints it (shown only this once); the old key stops working.
    RotateKey {
        /// The tenant whose key to replace.
        name: String,
    },
}

/// A tenant and its fresh API key (`POST /admin/tenants`, `POST /admin/tenants/{t}/keys`).
#[derive(Deserialize, Debug)]
struct Issued {
    tenant: String,
    api_key: String,
}

/// `GET /admin/tenants`.
#[derive(Deserialize, Debug)]
struct TenantList {
    tenants: Vec<TenantRow>,
}

/// One tenant in the list.
#[derive(Deserialize, Debug)]
struct TenantRow {
    name: String,
    #[serde(default)]
    models: u64,
    #[serde(default)]
    components: u64,
    #[serde(default)]
    endpoints: u64,
}

impl TenantCmd {
    /// Runs the verb and returns what to print on stdout.
    pub async fn run(self) -> anyhow::Result<String> {
        let api = self.conn.client()?;
        match self.verb {
            TenantVerb::Create { name } => {
                let body = serde_json::json!({ "name": name });
                let request = api.request(Method::POST, &["admin", "tenants"]).json(&body);
                let (_, issued): (_, Issued) = api.send_json(request).await?;
                Ok(render_issued("created tenant", &issued))
            }
            TenantVerb::List => {
                let (_, list): (_, TenantList) = api.send_json(api.request(Method::GET, &["admin", "tenants"])).await?;
                Ok(render_list(list))
            }
            TenantVerb::Delete { name } => {
                api.send_empty(api.request(Method::DELETE, &["admin", "tenants", &name])).await?;
                Ok(format!("deleted tenant {name}\n"))
            }
            TenantVerb::RotateKey { name } => rotate(&api, &name).await,
        }
    }
}

/// `POST /admin/tenants/{name}/keys`.
async fn rotate(api: &Api, name: &str) -> anyhow::Result<String> {
    let request = api.request(Method::POST, &["admin", "tenants", name, "keys"]);
    let (_, issued): (_, Issued) = api.send_json(request).await?;
    Ok(render_issued("new API key for tenant", &issued))
}

/// The tenant and its key, with the warning that the key is not shown again.
fn render_issued(what: &str, issued: &Issued) -> String {
    format!(
        "{what} {}\napi key: {}\nThis key is shown only once: store it now (it is sent as `Authorization: Bearer`).\n",
        issued.tenant, issued.api_key
    )
}

/// The tenants as a table.
fn render_list(list: TenantList) -> String {
    let rows = list
        .tenants
        .into_iter()
        .map(|t| vec![t.name, t.models.to_string(), t.components.to_string(), t.endpoints.to_string()])
        .collect();
    table::render("tenants", &["name", "models", "components", "endpoints"], rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_keys_come_with_a_warning() {
        let issued: Issued = serde_json::from_str(r#"{"tenant":"acme","api_key":"ei_abc"}"#).unwrap();
        let out = render_issued("created tenant", &issued);
        assert!(out.starts_with("created tenant acme\napi key: ei_abc\n"), "{out}");
        assert!(out.contains("shown only once"), "{out}");
    }

    #[test]
    fn tenants_render_as_a_table() {
        let list: TenantList = serde_json::from_value(serde_json::json!({"tenants": [
            {"name": "acme", "models": 1, "components": 2, "endpoints": 1},
            {"name": "b", "models": 0, "components": 0, "endpoints": 0}
        ]}))
        .unwrap();
        let expected = "\
NAME   MODELS   COMPONENTS   ENDPOINTS
acme   1        2            1
b      0        0            0
";
        assert_eq!(render_list(list), expected);
    }
}
