//! A small client for the native API, shared by every client subcommand.

use anyhow::{Context, bail};
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::RemoteArgs;
use crate::api::error::Problem;

pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    pub fn new(remote: &RemoteArgs) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("skilldex/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("building HTTP client")?;
        Ok(Self {
            http,
            base: remote.server.trim_end_matches('/').to_owned(),
            token: remote.token.as_ref().map(|t| t.expose().to_owned()),
        })
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.send::<(), T>(Method::GET, path, None).await
    }

    /// PUTs raw bytes to an absolute URL the server handed out (an upload URL).
    /// PUTs an archive; returns the answer's body.
    pub async fn put_bytes(&self, url: &str, body: Vec<u8>) -> anyhow::Result<Vec<u8>> {
        let mut req = self.http.put(url).header(reqwest::header::CONTENT_TYPE, "application/gzip").body(body);
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.with_context(|| format!("cannot reach {url}"))?;
        if !resp.status().is_success() {
            let status = resp.status();
            let bytes = resp.bytes().await.unwrap_or_default();
            if let Ok(p) = serde_json::from_slice::<Problem>(&bytes) {
                bail!("{} ({}): {}", p.title, p.status, p.detail);
            }
            bail!("PUT {url} failed with HTTP {status}");
        }
        Ok(resp.bytes().await.with_context(|| format!("reading the answer to PUT {url}"))?.to_vec())
    }

    /// Sends a request; a problem+json answer becomes an error that says what went wrong.
    pub async fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> anyhow::Result<T> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method.clone(), &url);
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.with_context(|| format!("cannot reach {}", self.base))?;
        let status = resp.status();
        let bytes = resp.bytes().await.context("reading response")?;
        if !status.is_success() {
            if let Ok(p) = serde_json::from_slice::<Problem>(&bytes) {
                bail!("{} ({}): {}", p.title, p.status, p.detail);
            }
            bail!("{method} {path} failed with HTTP {status}");
        }
        let bytes = if bytes.is_empty() { &b"null"[..] } else { &bytes[..] };
        serde_json::from_slice(bytes).with_context(|| format!("unexpected response from {method} {path}"))
    }
}
