//! What the index tells the rest of the process after a change has been committed: search
//! indexing, webhooks and tests listen here instead of each publish path notifying them.

use tokio::sync::broadcast;

use crate::domain::{Namespace, SkillName, VersionStatus};

/// A committed change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A version was recorded, by any publish path.
    VersionPublished { namespace: Namespace, name: SkillName, version: String, digest: String, status: VersionStatus },
}

/// How many events a slow listener may fall behind before it misses some (and is told so).
const BACKLOG: usize = 1024;

/// The channel events go out on; cloning shares it.
#[derive(Clone)]
pub struct Events(broadcast::Sender<Event>);

impl Default for Events {
    fn default() -> Self {
        Self(broadcast::channel(BACKLOG).0)
    }
}

impl Events {
    /// Sends to whoever listens now; nobody listening is fine.
    pub fn emit(&self, event: Event) {
        let _ = self.0.send(event);
    }

    /// Every event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.0.subscribe()
    }
}
