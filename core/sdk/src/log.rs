//! Forwards a plugin's `tracing` events to the host. Each cdylib has its own
//! `tracing` globals, so events inside a plugin would otherwise go nowhere.

use std::fmt::Write as _;

use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context as LayerContext, Layer, SubscriberExt};

use crate::node::Context;

/// Runs `f` with a thread-local subscriber that sends every event to the
/// host's log callback.
pub(crate) fn forwarding<T>(ctx: &Context, f: impl FnOnce() -> T) -> T {
    let subscriber = tracing_subscriber::registry().with(Forward {
        ctx: ForwardTarget::new(ctx),
    });
    tracing::subscriber::with_default(subscriber, f)
}

/// The context, erased to a `'static` pointer because subscribers must be.
struct ForwardTarget(*const Context<'static>);

impl ForwardTarget {
    fn new(ctx: &Context) -> Self {
        Self((ctx as *const Context).cast())
    }
}

// SAFETY: `Context` is Send + Sync; the subscriber holding this pointer is
// installed only for the duration of `run`, during which the context lives.
unsafe impl Send for ForwardTarget {}
// SAFETY: as above.
unsafe impl Sync for ForwardTarget {}

struct Forward {
    ctx: ForwardTarget,
}

impl<S: tracing::Subscriber> Layer<S> for Forward {
    fn on_event(&self, event: &tracing::Event<'_>, _: LayerContext<'_, S>) {
        let mut line = Line::default();
        event.record(&mut line);
        // SAFETY: see `ForwardTarget`: the context outlives the subscriber.
        let ctx = unsafe { &*self.ctx.0 };
        ctx.log_with_target(
            *event.metadata().level(),
            event.metadata().target(),
            &line.0,
        );
    }
}

/// The event's message followed by its other fields as `key=value`.
#[derive(Default)]
struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let rest = std::mem::take(&mut self.0);
            let _ = write!(self.0, "{value:?}{rest}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.insert_str(0, value);
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}
