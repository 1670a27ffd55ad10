//! Rate limits: how many requests of each class one caller may make in a period.
//!
//! Budgets are cells of a generic cell rate algorithm (GCRA): a class allowing `n` per
//! `period` admits a burst of `n` and then one request every `period / n`. Callers are
//! told where they stand (`RateLimit-*`) and, when refused, how long to wait.
//!
//! The buckets live in this process (governor) unless Redis is configured, in which case
//! every replica spends from the same budget through one atomic script. When Redis cannot
//! be reached the process falls back to its own buckets (each replica then allows the
//! budget on its own), logs the change once and counts every fallback; requests keep being
//! served.

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::middleware::StateInformationMiddleware;
use governor::{DefaultKeyedRateLimiter, clock::Clock as _};

/// What a request spends from: each class has its own budget per caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// Keyword and semantic searches on every surface.
    Search,
    /// npm packuments (`/@scope/name`, `/api/r/<name>`).
    Packument,
    /// New versions: REST, npm, SkillsMgr, ToolHive, skill-pool and tags pushed to `/v2/`.
    Publish,
    /// `POST /api/wishes`.
    Wish,
    /// `POST /api/reviews`.
    Review,
    /// `/v2/` reads (manifests, blobs, tags, referrers).
    RegistryPull,
    /// `/v2/` writes (uploads, manifests, deletes).
    RegistryPush,
    /// MCP calls.
    Mcp,
    /// Every other read.
    Read,
    /// Every other change.
    Write,
}

impl Class {
    pub const ALL: [Class; 10] = [
        Class::Search,
        Class::Packument,
        Class::Publish,
        Class::Wish,
        Class::Review,
        Class::RegistryPull,
        Class::RegistryPush,
        Class::Mcp,
        Class::Read,
        Class::Write,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Class::Search => "search",
            Class::Packument => "packument",
            Class::Publish => "publish",
            Class::Wish => "wish",
            Class::Review => "review",
            Class::RegistryPull => "registry-pull",
            Class::RegistryPush => "registry-push",
            Class::Mcp => "mcp",
            Class::Read => "read",
            Class::Write => "write",
        }
    }

    /// The default budget: SkillsMgr's table where it has one, else generous enough that
    /// an interactive user or a CI job never meets it.
    pub fn default_quota(self) -> Quota {
        let (count, period) = match self {
            Class::Search => (120, Period::Minute),
            Class::Packument => (240, Period::Minute),
            Class::Publish => (10, Period::Hour),
            Class::Wish => (20, Period::Day),
            Class::Review => (30, Period::Day),
            Class::RegistryPull => (1200, Period::Minute),
            Class::RegistryPush => (600, Period::Minute),
            Class::Mcp => (300, Period::Minute),
            Class::Read => (1200, Period::Minute),
            Class::Write => (120, Period::Minute),
        };
        Quota { count: NonZeroU32::new(count).expect("positive"), period }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Class {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Class::ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| {
            let known: Vec<_> = Class::ALL.iter().map(|c| c.as_str()).collect();
            format!("unknown rate-limit class `{s}` (known: {})", known.join(", "))
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Period {
    Second,
    Minute,
    Hour,
    Day,
}

impl Period {
    pub fn duration(self) -> Duration {
        Duration::from_secs(match self {
            Period::Second => 1,
            Period::Minute => 60,
            Period::Hour => 3600,
            Period::Day => 86_400,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            Period::Second => "second",
            Period::Minute => "minute",
            Period::Hour => "hour",
            Period::Day => "day",
        }
    }
}

/// `count` requests per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quota {
    pub count: NonZeroU32,
    pub period: Period,
}

impl Quota {
    /// The time one request's share takes to come back.
    fn interval(self) -> Duration {
        self.period.duration() / self.count.get()
    }

    /// The `RateLimit-Policy` form: `120;w=60`.
    pub fn policy(self) -> String {
        format!("{};w={}", self.count, self.period.duration().as_secs())
    }
}

impl fmt::Display for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.count, self.period.as_str())
    }
}

impl FromStr for Quota {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a rate such as `120/minute` (periods: second, minute, hour, day)");
        let (count, period) = s.trim().split_once('/').ok_or_else(bad)?;
        let count = count.trim().parse::<u32>().ok().and_then(NonZeroU32::new).ok_or_else(bad)?;
        let period = match period.trim() {
            "s" | "sec" | "second" => Period::Second,
            "m" | "min" | "minute" => Period::Minute,
            "h" | "hour" => Period::Hour,
            "d" | "day" => Period::Day,
            _ => return Err(bad()),
        };
        let quota = Quota { count, period };
        // Budgets are kept in microseconds (Redis's clock); finer ones are not rates anyone
        // means (more than a million a second).
        if quota.interval() < Duration::from_micros(1) {
            return Err(format!("`{s}` is more than 1000000/second; use `off` for no limit"));
        }
        Ok(quota)
    }
}

/// A budget setting: a quota, or no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Off,
    Every(Quota),
}

impl FromStr for Limit {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "off" | "unlimited" => Ok(Limit::Off),
            other => other.parse().map(Limit::Every),
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Off => f.write_str("off"),
            Limit::Every(q) => q.fmt(f),
        }
    }
}

/// Settings by class, written `class=rate` separated by commas: `search=60/minute,
/// publish=off`. `*` sets every class; later settings win. Used both for the server's
/// budgets (over the defaults) and for one token's (over the server's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings(Vec<(Option<Class>, Limit)>);

impl Settings {
    /// What these settings make of `base` for `class`.
    pub fn apply(&self, class: Class, base: Limit) -> Limit {
        self.0.iter().rev().find(|(c, _)| c.is_none_or(|c| c == class)).map_or(base, |(_, l)| *l)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromStr for Settings {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(Settings::default());
        }
        if s == "off" {
            return Ok(Settings(vec![(None, Limit::Off)]));
        }
        let mut all = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (class, limit) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}` is not `class=rate` (e.g. `search=120/minute`)"))?;
            let class = match class.trim() {
                "*" => None,
                c => Some(c.parse()?),
            };
            all.push((class, limit.parse()?));
        }
        Ok(Settings(all))
    }
}

impl fmt::Display for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|(c, l)| format!("{}={l}", c.map_or("*", |c| c.as_str()))).collect();
        f.write_str(&parts.join(","))
    }
}

/// A decision and where the caller stands afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub class: Class,
    pub allowed: bool,
    pub quota: Quota,
    /// Requests left in the budget now.
    pub remaining: u32,
    /// Until the budget is whole again.
    pub reset: Duration,
    /// Until the next request would be admitted (zero when allowed).
    pub retry_after: Duration,
}

type Local = DefaultKeyedRateLimiter<String, StateInformationMiddleware>;

/// Where Redis stands.
struct Remote {
    client: redis::Client,
    /// Replaced after a time-out: a connection that stopped answering is never reused.
    connection: Mutex<redis::aio::ConnectionManager>,
    script: redis::Script,
    prefix: String,
    /// While Redis is failing, when to try it again.
    resting_until: Mutex<Option<Instant>>,
    /// One request tries Redis after a pause; the others keep to the local buckets.
    probing: AtomicBool,
    down: AtomicBool,
}

fn connect(client: &redis::Client) -> Result<redis::aio::ConnectionManager, String> {
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(REDIS_TIMEOUT))
        .set_response_timeout(Some(REDIS_TIMEOUT))
        .set_number_of_retries(1);
    redis::aio::ConnectionManager::new_lazy_with_config(client.clone(), config)
        .map_err(|e| format!("cannot set up the Redis connection: {e}"))
}

/// How long a Redis call may take before the local buckets decide instead.
const REDIS_TIMEOUT: Duration = Duration::from_millis(250);
/// How long to leave Redis alone after it failed.
const REDIS_REST: Duration = Duration::from_secs(1);

/// GCRA over one key: the key holds the theoretical arrival time (µs on Redis's clock, so
/// replicas' clocks need not agree) and expires when the budget is whole again.
/// Returns allowed (1/0), remaining, retry-after µs, reset µs.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local next_tat = tat + interval
local allow_at = next_tat - burst * interval
if now < allow_at then
  return {0, 0, allow_at - now, tat - now}
end
redis.call('SET', KEYS[1], string.format('%d', next_tat), 'PX', math.ceil((next_tat - now) / 1000))
local remaining = math.floor((now - allow_at) / interval)
return {1, remaining, 0, next_tat - now}
";

/// The server's budgets and the buckets that track them.
pub struct RateLimiter {
    settings: Settings,
    local: Mutex<HashMap<(Class, Quota), Arc<Local>>>,
    remote: Option<Remote>,
    limited: [AtomicU64; Class::ALL.len()],
    fallbacks: AtomicU64,
}

impl RateLimiter {
    /// Budgets from `settings` over the defaults, kept in this process, or in Redis at
    /// `redis_url` (keys under `prefix`). Nothing is connected until the first request.
    pub fn new(settings: Settings, redis_url: Option<&str>, prefix: &str) -> Result<Arc<Self>, String> {
        let remote = match redis_url {
            None => None,
            Some(url) => {
                let client = redis::Client::open(url).map_err(|e| format!("invalid Redis URL: {e}"))?;
                Some(Remote {
                    connection: Mutex::new(connect(&client)?),
                    client,
                    script: redis::Script::new(GCRA),
                    prefix: prefix.to_owned(),
                    resting_until: Mutex::new(None),
                    probing: AtomicBool::new(false),
                    down: AtomicBool::new(false),
                })
            }
        };
        let limiter = Arc::new(Self {
            settings,
            local: Mutex::default(),
            remote,
            limited: Default::default(),
            fallbacks: AtomicU64::new(0),
        });
        // Buckets of callers gone quiet are dropped, so memory follows the active callers.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let weak = Arc::downgrade(&limiter);
            runtime.spawn(async move {
                let mut every = tokio::time::interval(Duration::from_secs(60));
                every.tick().await;
                loop {
                    every.tick().await;
                    let Some(limiter) = weak.upgrade() else { return };
                    for bucket in limiter.buckets() {
                        bucket.retain_recent();
                        bucket.shrink_to_fit();
                    }
                }
            });
        }
        Ok(limiter)
    }

    /// Whether Redis holds the budgets.
    pub fn is_shared(&self) -> bool {
        self.remote.is_some()
    }

    /// The budget of `class` for a caller whose token carries `own` settings.
    pub fn limit(&self, class: Class, own: Option<&Settings>) -> Limit {
        let server = self.settings.apply(class, Limit::Every(class.default_quota()));
        own.map_or(server, |s| s.apply(class, server))
    }

    /// Spends one request of `class` from `key`'s budget; `None` when the class is unlimited.
    pub async fn check(&self, class: Class, key: &str, own: Option<&Settings>) -> Option<Decision> {
        let Limit::Every(quota) = self.limit(class, own) else { return None };
        let decision = match self.check_remote(class, quota, key).await {
            Some(d) => d,
            None => self.check_local(class, quota, key),
        };
        if !decision.allowed {
            self.limited[class as usize].fetch_add(1, Ordering::Relaxed);
        }
        Some(decision)
    }

    fn buckets(&self) -> Vec<Arc<Local>> {
        self.local.lock().unwrap_or_else(|p| p.into_inner()).values().cloned().collect()
    }

    fn check_local(&self, class: Class, quota: Quota, key: &str) -> Decision {
        let bucket = {
            let mut all = self.local.lock().unwrap_or_else(|p| p.into_inner());
            all.entry((class, quota))
                .or_insert_with(|| {
                    let q = governor::Quota::with_period(quota.interval())
                        .expect("a period of at least a second over at most 2^32 requests is positive")
                        .allow_burst(quota.count);
                    Arc::new(governor::RateLimiter::keyed(q).with_middleware::<StateInformationMiddleware>())
                })
                .clone()
        };
        let interval = quota.interval();
        let whole_after = |remaining: u32| interval * (quota.count.get() - remaining.min(quota.count.get()));
        match bucket.check_key(&key.to_owned()) {
            Ok(state) => {
                let remaining = state.remaining_burst_capacity();
                Decision {
                    class,
                    allowed: true,
                    quota,
                    remaining,
                    reset: whole_after(remaining),
                    retry_after: Duration::ZERO,
                }
            }
            Err(not_until) => {
                let retry_after = not_until.wait_time_from(bucket.clock().now());
                Decision {
                    class,
                    allowed: false,
                    quota,
                    remaining: 0,
                    // The next request's share comes back first, then the rest of the burst.
                    reset: retry_after + whole_after(1),
                    retry_after,
                }
            }
        }
    }

    /// The decision Redis makes, or `None` when it cannot be had in time (the local buckets
    /// decide then).
    async fn check_remote(&self, class: Class, quota: Quota, key: &str) -> Option<Decision> {
        let remote = self.remote.as_ref()?;
        let resting = *remote.resting_until.lock().unwrap_or_else(|p| p.into_inner());
        let probe = match resting {
            None => false,
            Some(until) if Instant::now() >= until && !remote.probing.swap(true, Ordering::AcqRel) => true,
            Some(_) => {
                self.fallbacks.fetch_add(1, Ordering::Relaxed);
                return None;
            }
        };
        let redis_key = format!("{}:rl:{class}:{quota}:{key}", remote.prefix);
        let interval_us = quota.interval().as_micros() as u64;
        let mut connection = remote.connection.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut invocation = remote.script.key(redis_key);
        invocation.arg(interval_us).arg(quota.count.get());
        let answer = tokio::time::timeout(REDIS_TIMEOUT, invocation.invoke_async::<Vec<i64>>(&mut connection)).await;
        if probe {
            remote.probing.store(false, Ordering::Release);
        }
        let failure = match answer {
            Ok(Ok(v)) if v.len() == 4 => {
                *remote.resting_until.lock().unwrap_or_else(|p| p.into_inner()) = None;
                if remote.down.swap(false, Ordering::Relaxed) {
                    tracing::info!("Redis answers again; rate limits are shared across replicas");
                }
                let us = |n: i64| Duration::from_micros(n.max(0) as u64);
                return Some(Decision {
                    class,
                    allowed: v[0] == 1,
                    quota,
                    remaining: v[1].clamp(0, i64::from(u32::MAX)) as u32,
                    reset: us(v[3]),
                    retry_after: us(v[2]),
                });
            }
            Ok(Ok(v)) => format!("unexpected answer from the rate-limit script: {v:?}"),
            Ok(Err(e)) => {
                if e.is_timeout() {
                    self.reconnect(remote);
                }
                e.to_string()
            }
            Err(_) => {
                self.reconnect(remote);
                "Redis did not answer in time".to_owned()
            }
        };
        self.fallbacks.fetch_add(1, Ordering::Relaxed);
        *remote.resting_until.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now() + REDIS_REST);
        if !remote.down.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                error = %failure,
                "Redis is unreachable; rate limits are kept by each replica until it answers again"
            );
        }
        None
    }

    /// Drops a connection that stopped answering (a silent peer is never reused).
    fn reconnect(&self, remote: &Remote) {
        match connect(&remote.client) {
            Ok(fresh) => *remote.connection.lock().unwrap_or_else(|p| p.into_inner()) = fresh,
            Err(e) => tracing::warn!(error = %e, "cannot set up a new Redis connection"),
        }
    }

    /// The limiter's counters in Prometheus text format.
    pub fn render_metrics(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        out.push_str("# HELP skilldex_rate_limited_total Requests refused by a rate limit, by class.\n");
        out.push_str("# TYPE skilldex_rate_limited_total counter\n");
        for class in Class::ALL {
            let n = self.limited[class as usize].load(Ordering::Relaxed);
            let _ = writeln!(out, "skilldex_rate_limited_total{{class=\"{class}\"}} {n}");
        }
        out.push_str(
            "# HELP skilldex_rate_limit_fallbacks_total Decisions made by this replica's own buckets because Redis could not be reached.\n",
        );
        out.push_str("# TYPE skilldex_rate_limit_fallbacks_total counter\n");
        let _ = writeln!(out, "skilldex_rate_limit_fallbacks_total {}", self.fallbacks.load(Ordering::Relaxed));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_read_as_written() {
        let s: Settings = "search=60/minute, publish=off,*=5/s".parse().unwrap();
        assert_eq!(s.to_string(), "search=60/minute,publish=off,*=5/second");
        // Later settings win: `*` comes last, so it decides every class.
        assert_eq!(s.apply(Class::Search, Limit::Off), Limit::Every("5/second".parse().unwrap()));
        let s: Settings = "*=5/s,publish=off".parse().unwrap();
        assert_eq!(s.apply(Class::Publish, Limit::Every(Class::Publish.default_quota())), Limit::Off);
        assert_eq!(s.apply(Class::Read, Limit::Off), Limit::Every("5/second".parse().unwrap()));
        for bad in
            ["search", "search=0/minute", "search=10/fortnight", "nosuch=1/s", "search=ten/minute", "read=2000000/s"]
        {
            assert!(bad.parse::<Settings>().is_err(), "{bad} was accepted");
        }
        assert_eq!("off".parse::<Settings>().unwrap().apply(Class::Wish, Limit::Off), Limit::Off);
    }

    #[tokio::test]
    async fn a_budget_admits_its_burst_then_refuses_with_a_wait() {
        let limiter = RateLimiter::new("search=3/minute".parse().unwrap(), None, "t").unwrap();
        let mut remaining = Vec::new();
        for _ in 0..3 {
            let d = limiter.check(Class::Search, "a", None).await.unwrap();
            assert!(d.allowed);
            remaining.push(d.remaining);
        }
        assert_eq!(remaining, [2, 1, 0]);
        let refused = limiter.check(Class::Search, "a", None).await.unwrap();
        assert!(!refused.allowed);
        // One request's share of a minute comes back after 20 s.
        assert!(refused.retry_after > Duration::from_secs(19) && refused.retry_after <= Duration::from_secs(20));
        // Another caller and another class have budgets of their own.
        assert!(limiter.check(Class::Search, "b", None).await.unwrap().allowed);
        assert!(limiter.check(Class::Read, "a", None).await.unwrap().allowed);
        // A token's own settings replace the server's.
        let own: Settings = "search=10/minute".parse().unwrap();
        assert!(limiter.check(Class::Search, "a", Some(&own)).await.unwrap().allowed);
        assert!(limiter.check(Class::Search, "a", Some(&"search=off".parse().unwrap())).await.is_none());
        assert!(limiter.render_metrics().contains("skilldex_rate_limited_total{class=\"search\"} 1"));
    }
}
