//! A small client for the native API, shared by every client subcommand.

use anyhow::Context;
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::RemoteArgs;
use super::output::{Exit, fail};
use super::profile::Target;
use crate::api::error::Problem;

pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    /// A client for the server and token the flags, environment and profile give.
    pub fn new(remote: &RemoteArgs) -> anyhow::Result<Self> {
        Self::to(&remote.target()?)
    }

    pub fn to(target: &Target) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("skilldex/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(15))
            .build()
            .context("building HTTP client")?;
        Ok(Self { http, base: target.server.clone(), token: target.token.clone() })
    }

    /// `req` with this client's token, when it has one.
    fn authorized(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(token) => req.bearer_auth(token),
            None => req,
        }
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The token requests carry, if any.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.send::<(), T>(Method::GET, path, None).await
    }

    /// GETs raw bytes (an archive).
    pub async fn get_bytes(&self, path: &str) -> anyhow::Result<Vec<u8>> {
        let req = self.authorized(self.http.get(format!("{}{path}", self.base)));
        let resp = req.send().await.map_err(|e| unreachable(&self.base, &e))?;
        let status = resp.status();
        let bytes = resp.bytes().await.context("reading response")?;
        if !status.is_success() {
            return Err(self.refused(status, &bytes, &format!("GET {path}")));
        }
        Ok(bytes.to_vec())
    }

    /// PUTs an archive to an absolute URL the server handed out (an upload URL), reporting
    /// progress through `sent`; returns the answer's body.
    pub async fn put_bytes(
        &self,
        url: &str,
        body: Vec<u8>,
        sent: impl Fn(u64) + Send + 'static,
    ) -> anyhow::Result<Vec<u8>> {
        let total = body.len();
        const CHUNK: usize = 64 * 1024;
        let all = bytes::Bytes::from(body);
        let chunks: Vec<bytes::Bytes> =
            (0..total).step_by(CHUNK).map(|at| all.slice(at..(at + CHUNK).min(total))).collect();
        let stream = futures_util::stream::iter(chunks.into_iter().map(move |c| {
            sent(c.len() as u64);
            Ok::<_, std::io::Error>(c)
        }));
        let req = self
            .http
            .put(url)
            .header(reqwest::header::CONTENT_TYPE, "application/gzip")
            .header(reqwest::header::CONTENT_LENGTH, total)
            .body(reqwest::Body::wrap_stream(stream));
        let req = self.authorized(req);
        let resp = req.send().await.map_err(|e| unreachable(url, &e))?;
        let status = resp.status();
        let bytes = resp.bytes().await.context("reading the answer to the upload")?;
        if !status.is_success() {
            return Err(self.refused(status, &bytes, &format!("PUT {url}")));
        }
        Ok(bytes.to_vec())
    }

    /// POSTs JSON and streams the answer into `file`: the bytes written and the answer's
    /// `X-Skilldex-Export` note.
    pub async fn post_to_file<B: Serialize>(
        &self,
        path: &str,
        body: &B,
        file: &mut tokio::fs::File,
    ) -> anyhow::Result<(u64, String)> {
        use futures_util::StreamExt as _;
        use tokio::io::AsyncWriteExt as _;
        let req = self.authorized(self.http.post(format!("{}{path}", self.base)).json(body));
        let resp = req.send().await.map_err(|e| unreachable(&self.base, &e))?;
        let status = resp.status();
        if !status.is_success() {
            let bytes = resp.bytes().await.context("reading response")?;
            return Err(self.refused(status, &bytes, &format!("POST {path}")));
        }
        let note = resp.headers().get("x-skilldex-export").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let mut stream = resp.bytes_stream();
        let mut written = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.context("the answer was cut off")?;
            file.write_all(&chunk).await.context("writing the bundle")?;
            written += chunk.len() as u64;
        }
        file.flush().await?;
        Ok((written, note))
    }

    /// POSTs a file as the body, streamed; the JSON answer.
    pub async fn post_file<T: DeserializeOwned>(
        &self,
        path: &str,
        content_type: &str,
        file: tokio::fs::File,
    ) -> anyhow::Result<T> {
        let size = file.metadata().await?.len();
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(file));
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .header(reqwest::header::CONTENT_LENGTH, size)
            .body(body);
        let req = self.authorized(req);
        let resp = req.send().await.map_err(|e| unreachable(&self.base, &e))?;
        let status = resp.status();
        let bytes = resp.bytes().await.context("reading response")?;
        if !status.is_success() {
            return Err(self.refused(status, &bytes, &format!("POST {path}")));
        }
        serde_json::from_slice(&bytes).with_context(|| format!("unexpected response from POST {path}"))
    }

    /// Sends a request; a problem+json answer becomes an error that says what went wrong,
    /// with the exit code of its kind.
    pub async fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> anyhow::Result<T> {
        let url = format!("{}{path}", self.base);
        let mut req = self.authorized(self.http.request(method.clone(), &url));
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.map_err(|e| unreachable(&self.base, &e))?;
        let status = resp.status();
        let bytes = resp.bytes().await.context("reading response")?;
        if !status.is_success() {
            return Err(self.refused(status, &bytes, &format!("{method} {path}")));
        }
        let bytes = if bytes.is_empty() { &b"null"[..] } else { &bytes[..] };
        serde_json::from_slice(bytes).with_context(|| format!("unexpected response from {method} {path}"))
    }

    /// The error for a refused request: the server's own words, the exit code of their kind,
    /// and what to do next where that is clear.
    fn refused(&self, status: StatusCode, body: &[u8], what: &str) -> anyhow::Error {
        let said = match serde_json::from_slice::<Problem>(body) {
            Ok(p) => format!("{} ({}): {}", p.title, p.status, p.detail),
            Err(_) => format!("{what} failed with HTTP {status}"),
        };
        let (exit, hint) = match status {
            StatusCode::UNAUTHORIZED if self.token.is_none() => {
                (Exit::Auth, Some("no token: run `skilldex login` or set SKILLDEX_TOKEN"))
            }
            StatusCode::UNAUTHORIZED => {
                (Exit::Auth, Some("the token was refused (expired or revoked?): run `skilldex login` again"))
            }
            StatusCode::FORBIDDEN => (Exit::Auth, None),
            StatusCode::NOT_FOUND | StatusCode::GONE if self.token.is_none() => (
                Exit::NotFound,
                Some("private skills are visible to their team only: run `skilldex login` or set SKILLDEX_TOKEN"),
            ),
            StatusCode::NOT_FOUND | StatusCode::GONE => (Exit::NotFound, None),
            StatusCode::CONFLICT => (Exit::Conflict, None),
            s if s.is_server_error() => (Exit::Network, None),
            _ => (Exit::Failure, None),
        };
        fail(
            exit,
            match hint {
                Some(hint) => format!("{said} ({hint})"),
                None => said,
            },
        )
    }
}

/// The error for a server that could not be reached at all.
fn unreachable(base: &str, e: &reqwest::Error) -> anyhow::Error {
    let why = if e.is_timeout() { "timed out" } else { "connection failed" };
    fail(Exit::Network, format!("cannot reach {base} ({why}): check --server, SKILLDEX_SERVER or `skilldex login`"))
}
