//! The bucket: its settings, an `object_store` client for it, and a bridge that lets synchronous callers
//! (the node's stores, called from blocking threads or once at start) run the client's futures on a runtime
//! owned by this crate.

use object_store::aws::{AmazonS3, AmazonS3Builder, S3ConditionalPut};
use object_store::path::Path;
use object_store::{ClientOptions, RetryConfig};
use std::sync::Arc;
use std::time::Duration;

/// Where the fleet's bucket is and how to reach it (`[store]` in the node's config).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Settings {
    /// The bucket.
    pub bucket: String,
    /// The region (any value for most self-hosted servers).
    #[serde(default = "default_region")]
    pub region: String,
    /// The endpoint URL for a non-AWS server (`http://127.0.0.1:9000`); AWS's own when absent.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// A key prefix, so that several fleets can share a bucket (`prod/`); none by default.
    #[serde(default)]
    pub prefix: String,
    /// The access key id; `AWS_ACCESS_KEY_ID` when absent.
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// The secret access key; `AWS_SECRET_ACCESS_KEY` when absent.
    #[serde(default)]
    pub secret_access_key: Option<String>,
    /// Virtual-hosted-style addressing (`bucket.host`); path style (`host/bucket`), what self-hosted servers
    /// expect, by default.
    #[serde(default)]
    pub virtual_hosted_style: bool,
    /// How long one request to the bucket may take, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_region() -> String {
    "us-east-1".into()
}

fn default_timeout_ms() -> u64 {
    10_000
}

impl S3Settings {
    /// Settings for `bucket` at `endpoint`, everything else by default.
    pub fn new(bucket: &str, endpoint: Option<&str>) -> Self {
        Self {
            bucket: bucket.into(),
            region: default_region(),
            endpoint: endpoint.map(str::to_owned),
            prefix: String::new(),
            access_key_id: None,
            secret_access_key: None,
            virtual_hosted_style: false,
            timeout_ms: default_timeout_ms(),
        }
    }
}

/// A client for the bucket and the runtime its requests run on.
pub struct Remote {
    pub(crate) s3: Arc<AmazonS3>,
    prefix: String,
    /// Taken only when dropped.
    runtime: Option<tokio::runtime::Runtime>,
    /// Where the bucket is, for messages.
    pub(crate) location: String,
}

impl Remote {
    /// A client for the bucket of `settings`; nothing is sent until it is used.
    pub fn connect(settings: &S3Settings) -> Result<Arc<Self>, String> {
        let timeout = Duration::from_millis(settings.timeout_ms.max(1));
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(&settings.bucket)
            .with_region(&settings.region)
            .with_virtual_hosted_style_request(settings.virtual_hosted_style)
            .with_conditional_put(S3ConditionalPut::ETagMatch)
            .with_client_options(ClientOptions::new().with_timeout(timeout).with_connect_timeout(timeout))
            // A few quick retries; a bucket that stays away is an error the node reports, not a hang.
            .with_retry(RetryConfig { max_retries: 2, retry_timeout: timeout, ..RetryConfig::default() });
        if let Some(endpoint) = &settings.endpoint {
            builder = builder.with_endpoint(endpoint).with_allow_http(endpoint.starts_with("http://"));
        }
        if let Some(key) = &settings.access_key_id {
            builder = builder.with_access_key_id(key);
        }
        if let Some(secret) = &settings.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        let s3 = builder.build().map_err(|e| format!("S3 store settings: {e}"))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("edge-infer-s3")
            .enable_all()
            .build()
            .map_err(|e| format!("starting the S3 client's runtime: {e}"))?;
        let location = match &settings.endpoint {
            Some(endpoint) => format!("{endpoint}/{}/{}", settings.bucket, settings.prefix),
            None => format!("s3://{}/{}", settings.bucket, settings.prefix),
        };
        Ok(Arc::new(Self { s3: Arc::new(s3), prefix: settings.prefix.clone(), runtime: Some(runtime), location }))
    }

    /// The object key `name` under the prefix.
    pub(crate) fn path(&self, name: &str) -> Path {
        Path::from(format!("{}{name}", self.prefix))
    }

    /// Runs `request` on this crate's runtime and waits for it, from any thread (also one inside another
    /// tokio runtime: the caller's thread only waits on a channel).
    pub(crate) fn run<T: Send + 'static>(
        &self,
        request: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, String> {
        let (done, result) = std::sync::mpsc::sync_channel(1);
        let runtime = self.runtime.as_ref().expect("the runtime lives until drop");
        runtime.spawn(async move {
            let _ = done.send(request.await);
        });
        result.recv().map_err(|_| "the S3 client's runtime stopped".to_string())
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        // Dropping a runtime waits for its tasks to stop, which another runtime's thread may not do.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
