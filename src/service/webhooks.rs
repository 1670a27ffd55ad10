//! A namespace's webhook (skill-pool's tenant notifications): events are queued in the
//! database when they happen and posted by a worker, signed with the namespace's secret
//! (`X-Skill-Pool-Signature: sha256=<hex HMAC-SHA256 of the body>`), retried with backoff
//! until delivered or given up. A restart loses nothing: the queue is the database's.
//! Deliveries go only where the outbound policy allows: public hosts, or hosts an operator
//! allowed with `--allow-webhook`.

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::{Caller, Error, Result, Webhooks};
use crate::domain::{Millis, Namespace, new_id, now_millis};
use crate::oci::outbound::OutboundPolicy;
use crate::store::{Delivery, DeliveryOutcome, NewAudit, Webhook};

/// How many attempts a delivery gets before it is given up.
pub const MAX_ATTEMPTS: i64 = 8;
/// How long one attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a worker holds the deliveries it took: far longer than one pass, whose
/// attempts run at once, each within its timeout.
const LEASE_MS: Millis = 5 * 60_000;
/// Deliveries one pass of the worker takes and sends at once.
const BATCH: i64 = 16;
/// How long connecting to a receiver may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest URL and secret accepted.
const URL_MAX: usize = 2048;
const SECRET_MAX: usize = 256;

/// How a webhook is set up, as its owners see it: never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSettings {
    pub url: Option<String>,
    pub signing_enabled: bool,
}

/// A field of a settings change: left alone, cleared, or set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Keep,
    Clear,
    Set(String),
}

/// How deliveries are sent: where they may go, and how long a retry waits.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub policy: OutboundPolicy,
    /// The wait before the second attempt; each later one waits three times longer.
    pub retry_delay: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self { policy: OutboundPolicy::default(), retry_delay: Duration::from_secs(10) }
    }
}

impl WebhookSettings {
    fn of(hook: Option<&Webhook>) -> Self {
        Self { url: hook.map(|h| h.url.clone()), signing_enabled: hook.is_some_and(|h| h.secret.is_some()) }
    }
}

impl Webhooks<'_> {
    /// A namespace's webhook is its owners' business, with an admin token.
    async fn require_owner(&self, caller: &Caller, namespace: &Namespace) -> Result<()> {
        self.core.require_owner(caller, namespace, "configuring notifications").await
    }

    pub async fn settings(&self, caller: &Caller, namespace: &Namespace) -> Result<WebhookSettings> {
        self.require_owner(caller, namespace).await?;
        Ok(WebhookSettings::of(self.core.store.webhook(namespace).await?.as_ref()))
    }

    /// Changes the webhook: a URL must be http(s) and allowed by the outbound policy; without
    /// a URL there is no webhook (and no secret).
    pub async fn configure(
        &self,
        caller: &Caller,
        namespace: &Namespace,
        url: Change,
        secret: Change,
    ) -> Result<WebhookSettings> {
        self.require_owner(caller, namespace).await?;
        let current = self.core.store.webhook(namespace).await?;
        let url = match url {
            Change::Keep => current.as_ref().map(|h| h.url.clone()),
            Change::Clear => None,
            Change::Set(u) => Some(self.check_url(&u).await?),
        };
        let secret = match secret {
            Change::Keep => current.as_ref().and_then(|h| h.secret.clone()),
            Change::Clear => None,
            Change::Set(s) => {
                if s.chars().count() > SECRET_MAX {
                    return Err(Error::Invalid(format!("webhook_secret is longer than {SECRET_MAX} characters")));
                }
                Some(s)
            }
        };
        let hook = url.map(|url| Webhook { namespace: namespace.clone(), url, secret });
        self.core.store.set_webhook(namespace, hook.as_ref(), now_millis()).await?;
        let settings = WebhookSettings::of(hook.as_ref());
        // A webhook URL can itself be a credential (Slack, Discord): the log keeps its host.
        let host = settings
            .url
            .as_deref()
            .and_then(|u| reqwest::Url::parse(u).ok())
            .map(|u| format!("{}://{}", u.scheme(), u.host_str().unwrap_or_default()));
        let detail = json!({ "host": host, "signing": settings.signing_enabled });
        self.core.audit(caller, "webhook.configure", namespace.as_str(), detail).await;
        Ok(settings)
    }

    async fn check_url(&self, raw: &str) -> Result<String> {
        let bad = || Error::Invalid("webhook_url must be an http(s) URL".into());
        if raw.len() > URL_MAX {
            return Err(Error::Invalid(format!("webhook_url is longer than {URL_MAX} characters")));
        }
        let url = reqwest::Url::parse(raw).map_err(|_| bad())?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(bad());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Error::Invalid("webhook_url must not carry credentials; use webhook_secret".into()));
        }
        if self.target(&url).await.is_none() {
            return Err(Error::Invalid(
                "webhook_url names an internal or unknown host; an operator can allow it with --allow-webhook".into(),
            ));
        }
        Ok(url.to_string())
    }

    /// Where the policy lets a delivery to `url` connect, if anywhere.
    async fn target(&self, url: &reqwest::Url) -> Option<std::net::SocketAddr> {
        let port = url.port_or_known_default()?;
        // IPv6 hosts come bracketed, as an authority wants them.
        let authority = format!("{}:{port}", url.host_str()?);
        self.core.webhook_config.policy.resolve(&authority, port).await
    }

    /// Queues `event` for the namespace's webhook, if it has one. Never fails the change
    /// that caused it: a failure to queue is logged.
    pub async fn notify(&self, namespace: &Namespace, event: &str, body: Value) {
        let queued = async {
            if self.core.store.webhook(namespace).await?.is_none() {
                return Ok(false);
            }
            let delivery = Delivery {
                id: new_id(),
                namespace: namespace.clone(),
                event: event.to_owned(),
                body: body.to_string(),
                attempts: 0,
                created_at: now_millis(),
            };
            self.core.store.enqueue_delivery(&delivery, now_millis()).await?;
            Ok::<_, crate::store::StoreError>(true)
        };
        match queued.await {
            Ok(true) => self.core.webhook_wake.notify_one(),
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, %namespace, event, "an event was not queued for the webhook"),
        }
    }

    /// Sends the deliveries due now; returns how many were attempted. An outcome is recorded only while this worker still
    /// holds the delivery.
    pub async fn deliver_due(&self) -> Result<usize> {
        let now = now_millis();
        let lease = now + LEASE_MS;
        let due = self.core.store.claim_deliveries(now, lease, BATCH).await?;
        // Each namespace's deliveries in order, the namespaces at once: a slow receiver holds up
        // only its own.
        let mut by_namespace: Vec<Vec<&Delivery>> = Vec::new();
        for d in &due {
            match by_namespace.iter_mut().find(|g| g[0].namespace == d.namespace) {
                Some(group) => group.push(d),
                None => by_namespace.push(vec![d]),
            }
        }
        let sends = by_namespace.into_iter().map(|group| async move {
            let mut outcomes = Vec::with_capacity(group.len());
            for d in group {
                outcomes.push((d, self.attempt(d).await));
            }
            outcomes
        });
        let outcomes = futures_util::future::join_all(sends).await.into_iter().flatten();
        for (delivery, outcome) in outcomes {
            if !self.core.store.finish_delivery(&delivery.id, lease, &outcome, now_millis()).await? {
                tracing::warn!(delivery = %delivery.id, "a delivery's lease ran out before its attempt ended");
                continue;
            }
            let (result, error) = match &outcome {
                DeliveryOutcome::Delivered => ("delivered", None),
                DeliveryOutcome::Retry { error, .. } => ("retrying", Some(error)),
                DeliveryOutcome::Failed { error } => ("failed", Some(error)),
            };
            let entry = NewAudit {
                actor: None,
                action: "webhook.deliver".into(),
                target: delivery.namespace.to_string(),
                detail: json!({ "event": delivery.event, "delivery": delivery.id,
                    "attempt": delivery.attempts + 1, "result": result, "error": error }),
            };
            if let Err(e) = self.core.store.append_audit(&entry, now_millis()).await {
                tracing::error!(error = %e, "could not write audit entry");
            }
        }
        Ok(due.len())
    }

    /// One attempt: posted, signed, within the policy and the timeout.
    async fn attempt(&self, d: &Delivery) -> DeliveryOutcome {
        let hook = match self.core.store.webhook(&d.namespace).await {
            Ok(Some(hook)) => hook,
            Ok(None) => return DeliveryOutcome::Failed { error: "the webhook was removed".into() },
            Err(e) => return self.retry(d, format!("the database failed: {e}")),
        };
        let Ok(url) = reqwest::Url::parse(&hook.url) else {
            return DeliveryOutcome::Failed { error: "the webhook URL is invalid".into() };
        };
        let Some(addr) = self.target(&url).await else {
            return self.retry(d, "the webhook's host is internal, unknown or not allowed".into());
        };
        let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_owned();
        // No proxy: it would resolve the host itself, past the address checked here.
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(ATTEMPT_TIMEOUT)
            .resolve(&host, addr)
            .user_agent(concat!("skilldex/", env!("CARGO_PKG_VERSION")))
            .build();
        let client = match client {
            Ok(c) => c,
            Err(e) => return self.retry(d, format!("no HTTP client: {e}")),
        };
        let mut request = client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Skilldex-Event", &d.event)
            .header("X-Skilldex-Delivery", &d.id)
            .body(d.body.clone());
        if let Some(secret) = &hook.secret {
            request = request.header("X-Skill-Pool-Signature", signature(secret, d.body.as_bytes()));
        }
        match request.send().await {
            Ok(r) if r.status().as_u16() < 400 => DeliveryOutcome::Delivered,
            Ok(r) if r.status().is_client_error() && !matches!(r.status().as_u16(), 408 | 429) => {
                DeliveryOutcome::Failed { error: format!("the receiver answered {}", r.status().as_u16()) }
            }
            Ok(r) => self.retry(d, format!("the receiver answered {}", r.status().as_u16())),
            Err(e) if e.is_timeout() => self.retry(d, "the receiver did not answer in time".into()),
            Err(_) => self.retry(d, "the receiver could not be reached".into()),
        }
    }

    /// Another try later, waiting three times longer each time, or given up.
    fn retry(&self, d: &Delivery, error: String) -> DeliveryOutcome {
        let attempt = d.attempts + 1;
        if attempt >= MAX_ATTEMPTS {
            return DeliveryOutcome::Failed { error };
        }
        let wait = self.core.webhook_config.retry_delay.saturating_mul(3u32.saturating_pow(attempt as u32 - 1));
        DeliveryOutcome::Retry { at: now_millis() + wait.as_millis().min(i64::MAX as u128) as i64, error }
    }

    /// Runs deliveries until the process ends: when an event is queued, and every second for
    /// retries and for what other replicas queued.
    pub async fn run(&self) {
        loop {
            match self.deliver_due().await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "webhook deliveries failed"),
            }
            let _ = tokio::time::timeout(Duration::from_secs(1), self.core.webhook_wake.notified()).await;
        }
    }
}

impl super::Index {
    /// Tells the namespace's webhook a skill was deprecated (every path that deprecates).
    pub(crate) async fn deprecated(&self, skill: &crate::domain::Skill) {
        let text = format!("{}/{} deprecated", skill.namespace, skill.name);
        let body = skill_event("skill.deprecated", text, skill, json!({ "message": skill.deprecated_message }));
        self.webhooks().notify(&skill.namespace, "skill.deprecated", body).await;
    }
}

/// An event about a skill as its webhook body: skill-pool's `text`, `event` and `tenant`,
/// the skill, and the event's own fields.
pub fn skill_event(event: &str, text: String, skill: &crate::domain::Skill, fields: Value) -> Value {
    let mut body = json!({
        "text": text,
        "event": event,
        "tenant": { "slug": skill.namespace },
        "skill": { "namespace": skill.namespace, "name": skill.name, "kind": skill.kind },
    });
    if let (Some(body), Value::Object(fields)) = (body.as_object_mut(), fields) {
        body.extend(fields);
    }
    body
}

/// `sha256=<hex>`: the HMAC-SHA256 of exactly the bytes sent, keyed with the secret.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_of_the_body() {
        // RFC 4231, test case 2.
        let mac = signature("Jefe", b"what do ya want for nothing?");
        assert_eq!(mac, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }
}
